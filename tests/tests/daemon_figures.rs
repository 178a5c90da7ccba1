//! Figures for the report, printed (not asserted: performance is measured, not a pass/fail
//! condition here): idle RSS of the daemon, round trip of a verification call (no argon2),
//! argon2id cost of a PIN check with the shipped defaults.
//!
//! `cargo test -p behavior_tests --test daemon_figures -- --nocapture` measures the debug
//! build; for release figures build with `cargo build --release -p behaviord` and run with
//! `BEHAVIOR_TEST_PROFILE=release`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use behavior_ipc::auth::{AuthProxyBlocking, Stage, VerifyStatus};
use behavior_tests::{build_dir, fixture_subject, Daemon, PrivateBus, FIXTURE_PHRASE};

const USER: &str = "nobody";

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[test]
fn figures() {
    let bus = PrivateBus::start();
    // The shipped argon2 defaults; typing only for the verification loop (no PIN factor).
    let d = Daemon::start(
        &bus,
        &format!(
            "phrase = \"{FIXTURE_PHRASE}\"\ndefault_journey = \"behavior\"\n\
             [enrollment]\nbehavior = true\n[verify]\nmax_tries = 20\n[lockout]\nfailures = 0\n"
        ),
    );
    std::thread::sleep(Duration::from_millis(300));
    let rss_fresh = d.rss_kib();

    let typings = fixture_subject("subject2");
    d.enroll(USER, &typings[..5], None);
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    let n = 200;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let b = auth.begin(USER, "login", "tty1", "").unwrap();
        assert_eq!(b.stage, Stage::Verify);
        auth.open_capture(&b.handle).unwrap();
        // A typing the matcher accepts against the first five (see daemon_auth), typed
        // anew each time (an exact repeat is refused as a replay).
        d.inject(&conn, &typings[14].retyped(i));
        let start = Instant::now();
        let v = auth.submit_verification(&b.handle, FIXTURE_PHRASE).unwrap();
        times.push(start.elapsed());
        assert_eq!(v.status, VerifyStatus::Accepted, "login {i}: {v:?}");
        assert!(auth.finish(&b.handle).unwrap().success);
    }
    times.sort();

    // PIN checks with the shipped argon2id parameters.
    assert!(d
        .ctl_with(&["set-pin", USER], Some("123456\n"))
        .status
        .success());
    assert!(d.ctl(&["set", "default_journey", "pin"]).status.success());
    let m = 5;
    let mut pin_total = Duration::ZERO;
    for _ in 0..m {
        let b = auth.begin(USER, "login", "tty1", "").unwrap();
        let start = Instant::now();
        let v = auth.verify_pin(&b.handle, "123456").unwrap();
        pin_total += start.elapsed();
        assert_eq!(v.status, VerifyStatus::Accepted);
        auth.finish(&b.handle).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = d.rss_kib();

    println!("FIGURES ({})", build_dir().display());
    println!("idle RSS after start: {:.1} MiB", rss_fresh as f64 / 1024.0);
    println!(
        "idle RSS after {n} verifications and {m} PIN checks: {:.1} MiB",
        rss_after as f64 / 1024.0
    );
    println!(
        "SubmitVerification round trip over {n}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    );
    println!(
        "VerifyPin round trip (argon2id m=19456 KiB t=2 p=1) mean over {m}: {:.1} ms",
        pin_total.as_secs_f64() * 1000.0 / m as f64
    );
}
