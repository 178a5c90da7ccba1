//! A hostile local user for the load benchmark (`tests/tests/daemon_load.rs`): run under
//! `setpriv --reuid=N`, it calls `User1.Status` and `Auth1.Begin` (for its own account) as
//! fast as the daemon answers, from several threads on one connection, for a given time, then
//! prints `flood uid=N calls=C ok=O refused=R other=X`.
//!
//! Usage: `bus_flood SECONDS THREADS` with `DBUS_SYSTEM_BUS_ADDRESS` set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use behavior_ipc::auth::AuthProxyBlocking;
use behavior_ipc::user::UserProxyBlocking;
use behavior_ipc::Error;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    // SAFETY: getuid cannot fail; getpwuid returns a pointer to static storage or null,
    // read at once before any other call.
    let (uid, name) = unsafe {
        let uid = libc::getuid();
        let pw = libc::getpwuid(uid);
        let name = if pw.is_null() {
            "nobody".to_string()
        } else {
            std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned()
        };
        (uid, name)
    };
    let address = std::env::var("DBUS_SYSTEM_BUS_ADDRESS").expect("DBUS_SYSTEM_BUS_ADDRESS");
    let conn = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .method_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let (calls, ok, refused, other) = (
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    );
    let count = |r: Result<(), Error>| {
        calls.fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
            Err(Error::Unavailable(m)) if m.contains("too often") => {
                refused.fetch_add(1, Ordering::Relaxed)
            }
            Err(e) => {
                if other.load(Ordering::Relaxed) < 2
                    || std::env::var_os("BUS_FLOOD_VERBOSE").is_some()
                {
                    eprintln!("bus_flood: {e}");
                }
                other.fetch_add(1, Ordering::Relaxed)
            }
        };
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let user = UserProxyBlocking::new(&conn).unwrap();
                let auth = AuthProxyBlocking::new(&conn).unwrap();
                while Instant::now() < end {
                    count(user.status().map(drop));
                    count(auth.begin(&name, "login", "tty1", "").map(drop));
                }
            });
        }
    });
    println!(
        "flood uid={uid} calls={} ok={} refused={} other={}",
        calls.load(Ordering::Relaxed),
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed)
    );
}
