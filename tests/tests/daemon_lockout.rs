//! Lockout after repeated wrong PINs and typings, its expiry, and the admin reset.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use behavior_ipc::auth::{AuthProxyBlocking, VerifyStatus};
use behavior_ipc::Error;
use behavior_tests::{fixture_subject, Daemon, PrivateBus, FIXTURE_PHRASE};

const USER: &str = "nobody";

#[test]
fn wrong_pins_lock_out_until_expiry() {
    let bus = PrivateBus::start();
    // Lockout after 3 failures for 0.02 minutes (1.2 s); 5 tries per login.
    let d = Daemon::start(
        &bus,
        &format!(
            "phrase = \"{FIXTURE_PHRASE}\"\n[enrollment]\nbehavior = true\npin = true\n\
             [pin]\nargon2_memory_kib = 256\nargon2_iterations = 1\n\
             [verify]\nmax_tries = 5\n[lockout]\nfailures = 3\nminutes = 0.02\n"
        ),
    );
    let genuine = fixture_subject("subject2");
    let impostor = fixture_subject("subject4");
    d.enroll(USER, &genuine[..5], Some("123456"));
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();

    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(
        auth.verify_pin(&b.handle, "000000").unwrap().status,
        VerifyStatus::Rejected
    );
    // A wrong typing counts towards the same lockout.
    auth.open_capture(&b.handle).unwrap();
    d.inject(&conn, &impostor[1]);
    let v = auth.submit_verification(&b.handle, FIXTURE_PHRASE).unwrap();
    assert_eq!(v.status, VerifyStatus::Rejected);
    let v = auth.verify_pin(&b.handle, "000001").unwrap();
    assert_eq!(v.status, VerifyStatus::Exhausted, "{v:?}");
    assert!(v.message.contains("locked out"), "{v:?}");
    // Even the right PIN is refused now, under the same handle and in a new login.
    let v = auth.verify_pin(&b.handle, "123456").unwrap();
    assert_eq!(v.status, VerifyStatus::Exhausted);
    assert!(!auth.finish(&b.handle).unwrap().success);
    match auth.begin(USER, "login", "tty1", "") {
        Err(Error::LockedOut(m)) => assert!(m.contains("seconds"), "{m}"),
        other => panic!("expected LockedOut, got {other:?}"),
    }
    let out = d.ctl_as_nobody(&["set-pin"], Some("123456\n654321\n"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("locked out"));
    let show: serde_json::Value =
        serde_json::from_slice(&d.ctl(&["show", USER, "--json"]).stdout).unwrap();
    assert!(show["locked_until_ms"].as_i64().unwrap() > 0);

    let names: Vec<String> = d.db_events().into_iter().map(|e| e.0).collect();
    assert_eq!(
        names[names.len() - 4..],
        [
            "E_USER_PIN_FAILED",
            "E_BEHAVIOR_AUTH_FAILED",
            "E_USER_PIN_FAILED",
            "E_USER_LOCKED_OUT"
        ]
    );
    assert!(d
        .syslog
        .drain()
        .iter()
        .any(|l| l.contains("E_USER_LOCKED_OUT user=nobody")));

    // Expiry.
    std::thread::sleep(Duration::from_millis(1300));
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(
        auth.verify_pin(&b.handle, "123456").unwrap().status,
        VerifyStatus::Accepted
    );
    auth.finish(&b.handle).unwrap();

    // Locked again, then cleared by root.
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    for pin in ["000000", "000001", "000002"] {
        auth.verify_pin(&b.handle, pin).unwrap();
    }
    assert!(matches!(
        auth.begin(USER, "login", "tty1", ""),
        Err(Error::LockedOut(_))
    ));
    assert!(d.ctl(&["reset-lockout", USER]).status.success());
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(
        auth.verify_pin(&b.handle, "123456").unwrap().status,
        VerifyStatus::Accepted
    );
    // A mistyped name is not a lockout that was ended.
    let typo = d.ctl(&["reset-lockout", "nosuchuser9"]);
    assert!(!typo.status.success());
    let err = String::from_utf8_lossy(&typo.stderr);
    assert!(err.contains("no user \"nosuchuser9\""), "{err}");
}

/// A typing that passes must not forgive wrong PINs: failures are cleared, and the template
/// adapted, only when the whole login succeeds. Otherwise someone whose typing happens to
/// pass could guess PINs forever, a few per login.
#[test]
fn a_passing_typing_does_not_reset_the_count_of_wrong_pins() {
    let bus = PrivateBus::start();
    // Lockout after 4 failures; 2 tries per login.
    let d = Daemon::start(
        &bus,
        &format!(
            "phrase = \"{FIXTURE_PHRASE}\"\n[enrollment]\nbehavior = true\npin = true\n\
             [pin]\nargon2_memory_kib = 256\nargon2_iterations = 1\n\
             [verify]\nmax_tries = 2\n[lockout]\nfailures = 4\nminutes = 10\n"
        ),
    );
    let genuine = fixture_subject("subject2");
    d.enroll(USER, &genuine[..5], Some("123456"));
    let stored = || -> String {
        rusqlite::Connection::open(d.db_path())
            .unwrap()
            .query_row("SELECT template FROM templates", [], |r| r.get(0))
            .unwrap()
    };
    let enrolled = stored();
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    let login = |typing: usize, pins: &[&str]| -> Vec<VerifyStatus> {
        let b = auth.begin(USER, "login", "tty1", "").unwrap();
        auth.open_capture(&b.handle).unwrap();
        // An enrollment typing typed again: the same rhythm, not a replay of the recording.
        d.inject(&conn, &genuine[typing].retyped(typing));
        let v = auth.submit_verification(&b.handle, FIXTURE_PHRASE).unwrap();
        assert_eq!(v.status, VerifyStatus::Accepted, "typing {typing}: {v:?}");
        let pins = pins
            .iter()
            .map(|p| auth.verify_pin(&b.handle, p).unwrap().status)
            .collect();
        auth.finish(&b.handle).unwrap();
        pins
    };
    // Two logins whose typing passes and whose PINs are wrong: 4 failures, locked out.
    assert_eq!(
        login(1, &["000000", "000001"]),
        [VerifyStatus::Rejected, VerifyStatus::Exhausted]
    );
    assert_eq!(stored(), enrolled, "a failed login adapted the template");
    assert_eq!(
        login(2, &["000002", "000003"]),
        [VerifyStatus::Rejected, VerifyStatus::Exhausted]
    );
    assert!(matches!(
        auth.begin(USER, "login", "tty1", ""),
        Err(Error::LockedOut(_))
    ));

    // After the lockout is cleared, a whole login forgives earlier failures.
    assert!(d.ctl(&["reset-lockout", USER]).status.success());
    assert_eq!(login(3, &["000004"]), [VerifyStatus::Rejected]);
    assert_eq!(login(4, &["123456"]), [VerifyStatus::Accepted]);
    let failures = d.db_count("SELECT COALESCE(SUM(failures), 0) FROM lockouts");
    assert_eq!(failures, 0, "a successful login keeps old failures");
    // ...and adapts the template (re-typed enrollment rhythms are confident matches).
    assert_ne!(
        stored(),
        enrolled,
        "a successful login did not adapt the template"
    );
}
