//! The authentication interface end to end: a private bus with the shipped policy, the real
//! daemon on a temporary state directory, recorded typings injected through `Test1` into
//! the real capture path, the real matcher, real SQLite and syslog.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use behavior_ipc::auth::{AuthProxyBlocking, EnrollStatus, Stage, VerifyStatus};
use behavior_ipc::test::TestProxyBlocking;
use behavior_tests::{fixture_typings, Daemon, PrivateBus, Typing};

const PHRASE: &str = ".xat17padn";
const USER: &str = "nobody";

fn config() -> String {
    format!(
        r#"
phrase = "{PHRASE}"
[enrollment]
behavior = true
pin = true
attempts = 5
[pin]
length = 6
argon2_memory_kib = 256
argon2_iterations = 1
[lockout]
failures = 3
minutes = 0.05
"#
    )
}

fn genuine() -> Vec<Typing> {
    fixture_typings("iiitbh_two_subjects.jsonl")
        .into_iter()
        .filter(|t| t.subject == "subject2")
        .collect()
}

fn impostor() -> Vec<Typing> {
    fixture_typings("iiitbh_two_subjects.jsonl")
        .into_iter()
        .filter(|t| t.subject == "subject4")
        .collect()
}

fn inject(test: &TestProxyBlocking<'_>, t: &Typing) {
    let keys: Vec<(&str, f64, f64)> = t
        .keys
        .iter()
        .map(|(k, d, u)| (k.as_str(), *d, *u))
        .collect();
    assert_eq!(test.inject_keys(&keys).unwrap(), 2 * keys.len() as u32);
}

/// Enrolls `USER` with the first genuine typings; returns how many were used.
fn enroll(auth: &AuthProxyBlocking<'_>, test: &TestProxyBlocking<'_>, handle: &str) -> usize {
    let typings = genuine();
    for (i, t) in typings.iter().enumerate() {
        auth.open_capture(handle).unwrap();
        inject(test, t);
        let step = auth.submit_enrollment(handle, &t.text).unwrap();
        match step.status {
            EnrollStatus::Complete => return i + 1,
            EnrollStatus::Accepted => assert_eq!(step.attempts, 5),
            other => panic!("typing {i}: {other:?} {}", step.message),
        }
    }
    panic!("enrollment did not complete");
}

#[test]
fn enroll_then_verify_typing_and_pin() {
    let bus = PrivateBus::start();
    let daemon = Daemon::start(&bus, &config());
    let conn = daemon.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    let test = TestProxyBlocking::new(&conn).unwrap();

    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(
        (b.stage, b.phrase.as_str(), b.journey.as_str()),
        (Stage::Enroll, PHRASE, "behavior+pin")
    );
    assert!(b.pin_enroll && !b.pin_verify);
    assert!(
        !auth.finish(&b.handle).unwrap().success,
        "nothing passed yet"
    );

    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    // A typed text that differs from the phrase is a mismatch and repeats the attempt.
    auth.open_capture(&b.handle).unwrap();
    inject(&test, &genuine()[0]);
    let step = auth.submit_enrollment(&b.handle, ".xat17padm").unwrap();
    assert_eq!((step.status, step.attempt), (EnrollStatus::Mismatch, 1));
    // Submitting without a capture window is refused.
    assert!(auth.submit_enrollment(&b.handle, PHRASE).is_err());
    let used = enroll(&auth, &test, &b.handle);
    assert_eq!(used, 5, "the first five typings are consistent");
    // Wrong PIN length: refused, nothing stored.
    assert!(auth.enroll_pin(&b.handle, "123").is_err());
    auth.enroll_pin(&b.handle, "123456").unwrap();
    let out = auth.finish(&b.handle).unwrap();
    // Setting a factor up proves nothing about who typed: nothing passed, all pending.
    assert!(
        !out.success && out.factors.is_empty() && out.pending,
        "{out:?}"
    );
    assert_eq!(daemon.db_count("SELECT COUNT(*) FROM templates"), 0);
    // Finished handles are gone; the pending enrollment is committed once, by its caller.
    assert!(auth.finish(&b.handle).is_err());
    let other = daemon.connect();
    let auth2 = AuthProxyBlocking::new(&other).unwrap();
    assert!(matches!(
        auth2.commit(&b.handle),
        Err(behavior_ipc::Error::NoSuchHandle(_))
    ));
    auth.commit(&b.handle).unwrap();
    assert!(auth.commit(&b.handle).is_err(), "committed twice");
    assert_eq!(daemon.db_count("SELECT COUNT(*) FROM templates"), 1);
    assert_eq!(daemon.db_count("SELECT COUNT(*) FROM pins"), 1);

    // Verify: a later genuine typing and the PIN.
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(b.stage, Stage::Verify);
    assert!(b.pin_verify && !b.pin_enroll);
    auth.open_capture(&b.handle).unwrap();
    // Typing 14 is one the matcher accepts against the first five (score ~1.2 of 1.6).
    inject(&test, &genuine()[14]);
    let v = auth.submit_verification(&b.handle, PHRASE).unwrap();
    assert_eq!(v.status, VerifyStatus::Accepted, "{v:?}");
    let v = auth.verify_pin(&b.handle, "654321").unwrap();
    assert_eq!(v.status, VerifyStatus::Rejected);
    let v = auth.verify_pin(&b.handle, "123456").unwrap();
    assert_eq!(v.status, VerifyStatus::Accepted);
    let out = auth.finish(&b.handle).unwrap();
    assert!(out.success);

    // An impostor's typing of the same phrase is rejected; so is another text.
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    auth.open_capture(&b.handle).unwrap();
    inject(&test, &impostor()[0]);
    let v = auth.submit_verification(&b.handle, PHRASE).unwrap();
    assert_eq!(v.status, VerifyStatus::Rejected, "{v:?}");
    assert_eq!(v.tries_left, 2);
    auth.open_capture(&b.handle).unwrap();
    inject(&test, &genuine()[13]);
    let v = auth
        .submit_verification(&b.handle, "something else")
        .unwrap();
    assert_eq!(v.status, VerifyStatus::Rejected);
    let v = auth.verify_pin(&b.handle, "123456").unwrap();
    assert_eq!(v.status, VerifyStatus::Accepted);
    let out = auth.finish(&b.handle).unwrap();
    assert!(!out.success, "the typing never passed");
    assert_eq!(out.factors, vec!["pin"]);
}

/// A daemon with `USER` enrolled (typings 0-4 of the genuine typist, PIN 123456).
fn enrolled() -> (PrivateBus, Daemon) {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config());
    d.enroll(USER, &genuine()[..5], Some("123456"));
    (bus, d)
}

/// Verification of one typing: `logins` wait for the phrase on seat0 on `conns` (at most
/// 16 logins per connection), the genuine typist types once, every login submits it.
fn one_typing_for(d: &Daemon, conns: &[zbus::blocking::Connection], logins: usize) {
    let auths: Vec<AuthProxyBlocking<'_>> = conns
        .iter()
        .map(|c| AuthProxyBlocking::new(c).unwrap())
        .collect();
    let handles: Vec<(usize, String)> = (0..logins)
        .map(|i| {
            let a = &auths[i % auths.len()];
            let b = a.begin(USER, "login", "tty1", "").unwrap();
            a.open_capture(&b.handle).unwrap();
            (i % auths.len(), b.handle)
        })
        .collect();
    d.inject(&conns[0], &genuine()[14]);
    // Stops at the first login the typing served.
    for (i, (a, h)) in handles.iter().enumerate() {
        let v = auths[*a].submit_verification(h, PHRASE).unwrap();
        assert_eq!(
            (v.status, v.tries_left, v.message.as_str()),
            (
                VerifyStatus::Retry,
                3,
                "Another login on this seat was typing at the same time; please type the phrase again."
            ),
            "login {i} of {logins}"
        );
    }
    for (a, h) in &handles {
        assert!(!auths[*a].finish(h).unwrap().success);
    }
}

#[test]
fn one_typing_while_two_logins_wait_on_the_seat_serves_neither() {
    let (_bus, d) = enrolled();
    let (victim, attacker) = (d.connect(), d.connect());
    one_typing_for(&d, &[victim, attacker], 2);
    // Nothing counted as a failure; alone on the seat the same typing passes.
    let failures = "SELECT count(*) FROM events WHERE name = 'E_BEHAVIOR_AUTH_FAILED'";
    assert_eq!(d.db_count(failures), 0);
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    auth.open_capture(&b.handle).unwrap();
    d.inject(&conn, &genuine()[14]);
    let v = auth.submit_verification(&b.handle, PHRASE).unwrap();
    assert_eq!(v.status, VerifyStatus::Accepted, "{v:?}");
    auth.finish(&b.handle).unwrap();
}

#[test]
fn one_typing_while_200_logins_wait_accepts_none() {
    let (_bus, d) = enrolled();
    let conns: Vec<_> = (0..13).map(|_| d.connect()).collect();
    one_typing_for(&d, &conns, 200);
}
