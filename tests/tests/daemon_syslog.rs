//! Logging never blocks: the daemon's syslog socket is bound but never read, with the
//! kernel's default queue of 10 datagrams (a stuck journald, a host where nothing raised
//! `net.unix.max_dgram_qlen`), and every call still answers promptly; status counts the
//! lines it had to drop. Needs root (a network namespace for the socket's queue).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use behavior_ipc::admin::AdminProxyBlocking;
use behavior_ipc::auth::{AuthProxyBlocking, Stage};
use behavior_tests::{is_root, Daemon, PrivateBus, FIXTURE_PHRASE};

/// Well above anything the calls below need, far below "hangs forever".
const PROMPT: Duration = Duration::from_secs(2);

/// Runs `f`, failing when it took longer than [`PROMPT`].
#[track_caller]
fn promptly<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < PROMPT, "{what} took {took:?} with syslog stuck");
    out
}

#[test]
fn a_stuck_syslog_neither_holds_calls_nor_logins_and_status_counts_the_drops() {
    if !is_root() {
        eprintln!("not root: a syslog socket in its own network namespace needs root");
        return;
    }
    let bus = PrivateBus::start();
    let config =
        format!("phrase = \"{FIXTURE_PHRASE}\"\n[enrollment]\nbehavior = true\npin = true\n");
    let d = Daemon::start_with_unread_syslog(&bus, &config);
    let conn = d.connect();
    let admin = AdminProxyBlocking::new(&conn).unwrap();
    let auth = AuthProxyBlocking::new(&conn).unwrap();

    // Each change is an audit event and a note: two lines, far more than 10 datagrams.
    for i in 0..40 {
        let value = (2 + i % 2).to_string();
        promptly("Admin1.Set", || {
            admin.set("verify.max_tries", &value).unwrap()
        });
    }
    // Logins go on: Begin and Finish of an enrollment that is abandoned.
    for _ in 0..5 {
        let b = promptly("Auth1.Begin", || {
            auth.begin("nobody", "login", "tty1", "").unwrap()
        });
        assert_eq!(b.stage, Stage::Enroll, "{b:?}");
        promptly("Auth1.Finish", || auth.finish(&b.handle).unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let status = promptly("Admin1.Status", || admin.status().unwrap());
        if status.syslog_dropped > 0 || Instant::now() >= deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.syslog_dropped > 0,
        "no syslog line counted as dropped within 20 s: {status:?}"
    );
    assert!(!status.syslog_connected, "{status:?}");
    // The database kept every event.
    assert_eq!(
        d.db_count("SELECT COUNT(*) FROM events WHERE name = 'E_SETTINGS_CHANGED'"),
        40
    );
    // behaviorctl shows it.
    let out = d.ctl(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("syslog connected"), "{text}");
    assert!(text.contains("syslog lines dropped"), "{text}");
}

#[test]
fn a_read_syslog_is_connected_and_drops_nothing() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &format!("phrase = \"{FIXTURE_PHRASE}\"\n"));
    let conn = d.connect();
    let admin = AdminProxyBlocking::new(&conn).unwrap();
    for _ in 0..40 {
        admin.set("verify.max_tries", "2").unwrap();
    }
    let lines = d.syslog.drain();
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("E_SETTINGS_CHANGED"))
            .count()
            == 40,
        "{lines:#?}"
    );
    let status = admin.status().unwrap();
    assert!(status.syslog_connected, "{status:?}");
    assert_eq!(status.syslog_dropped, 0, "{status:?}");
}
