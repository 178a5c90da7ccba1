//! Figures for the report, not assertions: root's login latency (`Auth1.Begin` to `Finish` of
//! a `behavior` journey, the typing injected through `Test1`, all timed) on the real daemon,
//! alone; under a flood from 8 unprivileged uids (`setpriv --reuid=N bus_flood`, each
//! hammering `User1.Status` and `Auth1.Begin` from 4 threads); and with a syslog socket that
//! is bound but never read (its queue filled first). Each call has a 10 s deadline; a login
//! that errs or does not succeed is counted as fallen through.
//!
//! cargo build --workspace && cargo test -p behavior_tests --test daemon_load -- --ignored --nocapture
//!
//! `BEHAVIOR_FLOOD_THREADS=32` in front makes each flooder keep 32 calls in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use behavior_ipc::auth::{AuthProxyBlocking, VerifyStatus};
use behavior_tests::{built, fixture_subject, Daemon, PrivateBus, Typing, FIXTURE_PHRASE};

const USER: &str = "nobody";
const FLOODERS: u32 = 8;
const FLOOD_SECS: u64 = 25;

fn config() -> String {
    format!(
        "phrase = \"{FIXTURE_PHRASE}\"\ndefault_journey = \"behavior\"\n[enrollment]\nbehavior = true\nattempts = 5\n[lockout]\nfailures = 0\n"
    )
}

/// One root login; Ok(false) when the matcher rejected the typing (its error rate, not a
/// fall-through), Err says what went wrong.
fn login(d: &Daemon, conn: &zbus::blocking::Connection, typing: &Typing) -> Result<bool, String> {
    let auth = AuthProxyBlocking::new(conn).map_err(|e| e.to_string())?;
    let b = auth
        .begin(USER, "login", "tty1", "")
        .map_err(|e| format!("Begin: {e}"))?;
    auth.open_capture(&b.handle)
        .map_err(|e| format!("OpenCapture: {e}"))?;
    d.inject(conn, typing);
    let step = auth
        .submit_verification(&b.handle, &typing.text)
        .map_err(|e| format!("SubmitVerification: {e}"))?;
    let accepted = match step.status {
        VerifyStatus::Accepted => true,
        VerifyStatus::Rejected => false,
        other => return Err(format!("typing {other:?}: {}", step.message)),
    };
    let out = auth.finish(&b.handle).map_err(|e| format!("Finish: {e}"))?;
    if accepted && !out.success {
        return Err("Finish: no success after an accepted typing".into());
    }
    Ok(accepted)
}

/// Logins until `rounds` are done or `until`; prints p50/p99/max and the failures.
fn measure(label: &str, d: &Daemon, rounds: usize, until: Instant, stop_at_first_failure: bool) {
    let conn = zbus::blocking::connection::Builder::address(d.bus_address())
        .unwrap()
        .method_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // The daemon refuses a replayed timing vector: each login types one of the genuine
    // typings not enrolled, retyped (a few ms longer on one key) differently every time.
    let genuine = fixture_subject("subject2");
    let bases = &genuine[5..];
    let mut times = Vec::new();
    let mut failed = Vec::new();
    let mut rejected = 0;
    while times.len() + failed.len() < rounds && Instant::now() < until {
        let i = times.len() + failed.len();
        let typing = bases[i % bases.len()].retyped(i / bases.len());
        let started = Instant::now();
        match login(d, &conn, &typing) {
            Ok(accepted) => {
                times.push(started.elapsed());
                rejected += usize::from(!accepted);
            }
            Err(e) => {
                failed.push(format!(
                    "{e} (after {:.1} s)",
                    started.elapsed().as_secs_f64()
                ));
                if stop_at_first_failure {
                    break;
                }
            }
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: usize| times.get((times.len() * q / 100).min(times.len().saturating_sub(1)));
    match (at(50), at(99), times.last()) {
        (Some(p50), Some(p99), Some(max)) => println!(
            "LOAD {label}: {} logins ({rejected} typings rejected by the matcher), p50 {:.1} ms, \
             p99 {:.1} ms, max {:.1} ms; fell through: {}",
            times.len(),
            ms(*p50),
            ms(*p99),
            ms(*max),
            failed.len()
        ),
        _ => println!(
            "LOAD {label}: no login succeeded; fell through: {}",
            failed.len()
        ),
    }
    for f in failed.iter().take(3) {
        println!("LOAD {label}: failure: {f}");
    }
}

/// Threads per flooder: `$BEHAVIOR_FLOOD_THREADS`, default 4.
fn threads() -> String {
    std::env::var("BEHAVIOR_FLOOD_THREADS").unwrap_or_else(|_| "4".into())
}

fn flooder(bus: &str, uid: u32) -> Child {
    Command::new("setpriv")
        .args([
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".into(),
        ])
        .arg(built("bus_flood"))
        .args([FLOOD_SECS.to_string(), threads()])
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Waits for a flooder's report (killed after a deadline, so the test always ends).
fn flooder_report(mut child: Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(FLOOD_SECS + 30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return "flooder killed at its deadline".into();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn root_logins_alone_under_a_flood_and_with_syslog_stuck() {
    let bus = PrivateBus::start();
    // The harness's sink reads the daemon's syslog lines as they come.
    let d = Daemon::start(&bus, &config());
    d.enroll(USER, &fixture_subject("subject2")[..5], None);
    measure(
        "alone",
        &d,
        200,
        Instant::now() + Duration::from_secs(60),
        false,
    );

    let flooders: Vec<Child> = (1..=FLOODERS).map(|u| flooder(bus.address(), u)).collect();
    std::thread::sleep(Duration::from_secs(2));
    let until = Instant::now() + Duration::from_secs(FLOOD_SECS - 4);
    measure("flood of 8 uids", &d, 200, until, false);
    for child in flooders {
        println!("LOAD {}", flooder_report(child));
    }
    drop(d);

    // A syslog socket bound but never read, its queue filled first.
    let d = Daemon::start_with_unread_syslog(&bus, &config());
    d.enroll(USER, &fixture_subject("subject2")[..5], None);
    println!("LOAD syslog socket full after {} more datagrams", fill(&d));
    measure(
        "syslog stuck",
        &d,
        200,
        Instant::now() + Duration::from_secs(40),
        true,
    );
}

/// Fills the daemon's syslog socket: one sender's buffer may fill before the socket's queue
/// does, so senders are added until a new one cannot queue a single datagram. Returns how
/// many were queued.
fn fill(d: &Daemon) -> usize {
    let mut fillers = Vec::new();
    let mut queued = 0;
    loop {
        let filler = UnixDatagram::unbound().unwrap();
        filler.set_nonblocking(true).unwrap();
        let mut sent = 0;
        while filler.send_to(b"<86>filler", d.syslog.path()).is_ok() {
            sent += 1;
        }
        fillers.push(filler);
        queued += sent;
        if sent == 0 || fillers.len() > 64 {
            return queued;
        }
    }
}
