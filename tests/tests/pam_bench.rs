//! Figures for the report, not assertions: the time of one login through the real libpam
//! (`pam_start_confdir` loading the module, `pam_authenticate`, `pam_end`) with one verify
//! round trip and no PIN (no argon2), against the scripted mock daemon and against the real
//! daemon (journey `behavior`; the key injection is timed apart and left out).
//!
//! cargo build --workspace && cargo test -p behavior_tests --test pam_bench -- --ignored --nocapture
//!
//! With a release build of the module: `cargo build --release -p pam_behavior` and
//! `BEHAVIOR_PAM_MODULE=$PWD/target/release/libpam_behavior.so` in front of the test command.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pam_harness;

use std::time::{Duration, Instant};

use std::cell::Cell;

use behavior_tests::{fixture_subject, Daemon, PrivateBus, FIXTURE_PHRASE};
use pam_harness::*;
use serde_json::json;

const PHRASE: &str = "correct horse battery";
const ROUNDS: usize = 50;

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn module_load_and_one_verify_round_trip() {
    let bus = PrivateBus::start();
    let mut steps = Vec::new();
    for _ in 0..=ROUNDS {
        steps.extend([
            json!({"method": "Begin", "return": ["h1", "behavior", "verify", PHRASE, 3, 3, false, false, 4, false, 120]}),
            json!({"method": "OpenCapture", "return": null}),
            json!({"method": "SubmitVerification", "return": ["accepted", 3, ""]}),
            json!({"method": "Finish", "return": [true, ["behavior"]]}),
        ]);
    }
    let _mock = MockDaemon::start(&bus, json!(steps));
    let login = Login::new("", bus.address()).answers(&[PHRASE]);

    let started = Instant::now();
    assert_eq!(login.run().0, PAM_SUCCESS);
    let first = started.elapsed();

    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(login.run().0, PAM_SUCCESS);
            started.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "pam login, one verify round trip (mock daemon): first (dlopen + connect) {:.2} ms; \
         next {ROUNDS}: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        ms(first),
        ms(times[ROUNDS / 2]),
        ms(times[ROUNDS * 9 / 10]),
        ms(times[ROUNDS - 1]),
    );
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn module_load_and_one_verify_round_trip_with_the_real_daemon() {
    let bus = PrivateBus::start();
    let config = format!(
        "phrase = \"{FIXTURE_PHRASE}\"\ndefault_journey = \"behavior\"\n[enrollment]\nbehavior = true\nattempts = 5\n[lockout]\nfailures = 0\n"
    );
    let daemon = Daemon::start(&bus, &config);
    let genuine = fixture_subject("subject2");
    daemon.enroll("nobody", &genuine[..5], None);
    let conn = daemon.connect();
    let injecting = Cell::new(Duration::ZERO);
    let mut login = Login::new("", daemon.bus_address())
        .answers(&[FIXTURE_PHRASE])
        .hook(|_, _| {
            let started = Instant::now();
            daemon.inject(&conn, &genuine[14]);
            injecting.set(started.elapsed());
        });
    login.user = "nobody";
    let timed = || {
        let started = Instant::now();
        assert_eq!(login.run().0, PAM_SUCCESS);
        started.elapsed() - injecting.get()
    };
    let first = timed();
    let mut times: Vec<Duration> = (0..ROUNDS).map(|_| timed()).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "pam login, one verify round trip (real daemon, injection excluded): first (dlopen + \
         connect) {:.2} ms; next {ROUNDS}: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        ms(first),
        ms(times[ROUNDS / 2]),
        ms(times[ROUNDS * 9 / 10]),
        ms(times[ROUNDS - 1]),
    );
}
