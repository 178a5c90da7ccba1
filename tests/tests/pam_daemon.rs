//! pam_behavior.so through the real libpam against the real daemon on a private bus with
//! the shipped policy: recorded typings are injected through `org.behaviord.Test1` into the
//! daemon's real capture path at the moment the user "types" (just before the answer to the
//! phrase prompt goes back), then judged by the real matcher on real SQLite. Every case
//! asserts the exact conversation and the PAM code.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pam_harness;

use std::time::{Duration, Instant};

use behavior_tests::{fixture_subject, Daemon, PrivateBus, Typing, FIXTURE_PHRASE};
use pam_harness::*;

const PROMPT: &str = "Type the phrase: .xat17padn\nPhrase: ";
const INCORRECT_PATTERN: &str = "Incorrect pattern. Please try again.";
/// A user every Debian system has (the daemon looks accounts up).
const USER: &str = "nobody";
const PIN: &str = "482913";

fn config(journey: &str, lockout_failures: u32, allow_skip: bool) -> String {
    format!(
        r#"
phrase = "{FIXTURE_PHRASE}"
default_journey = "{journey}"
[enrollment]
behavior = true
pin = true
attempts = 5
allow_skip = {allow_skip}
[pin]
length = 6
argon2_memory_kib = 256
argon2_iterations = 1
[verify]
max_tries = 3
[lockout]
failures = {lockout_failures}
minutes = 0.02
"#
    )
}

fn genuine() -> Vec<Typing> {
    fixture_subject("subject2")
}

fn impostor() -> Vec<Typing> {
    fixture_subject("subject4")
}

/// A daemon with `USER` enrolled (first five genuine typings, PIN) through `Auth1`.
fn enrolled(bus: &PrivateBus, journey: &str, lockout_failures: u32) -> Daemon {
    let daemon = Daemon::start(bus, &config(journey, lockout_failures, false));
    // Enroll under behavior+pin so that a PIN is set whatever the journey under test.
    daemon.enroll(USER, &genuine()[..5], Some(PIN));
    daemon
}

#[test]
fn enrollment_of_a_new_user_then_a_successful_login() {
    let bus = PrivateBus::start();
    let daemon = Daemon::start(&bus, &config("behavior+pin", 5, false));
    let g = genuine();
    let answers = [
        FIXTURE_PHRASE,
        ".xat17padm",
        FIXTURE_PHRASE,
        FIXTURE_PHRASE,
        FIXTURE_PHRASE,
        FIXTURE_PHRASE,
        "12345",
        PIN,
        PIN,
    ];
    let typed = vec![
        g[0].clone(),
        g[1].clone(),
        g[1].clone(),
        g[2].clone(),
        g[3].clone(),
        g[4].clone(),
    ];
    let (code, seen) = typed_login(&daemon, USER, "", &answers, typed.clone()).run();
    let mut expected = vec![
        info("A typing pattern is displayed. Type the phrase exactly as shown."),
        info("Attempt 1 of 5"),
        echo_on(PROMPT),
        info("Attempt 2 of 5"),
        echo_on(PROMPT),
        error("Typed phrases do not match."),
    ];
    for k in 2..=5 {
        expected.push(info(&format!("Attempt {k} of 5")));
        expected.push(echo_on(PROMPT));
    }
    expected.extend([
        info("Typing pattern registered."),
        echo_off("Set up PIN: "),
        error("The PIN must be exactly 6 characters long. Please try again."),
        echo_off("Set up PIN: "),
        echo_off("Re-enter PIN: "),
        info("PIN registered."),
    ]);
    assert_eq!(seen, expected);
    // The enrolling login is left to the rest of the stack (PAM_IGNORE); alone in the
    // stack, libpam reports that no module decided, and nothing is stored.
    assert_eq!(code, PAM_PERM_DENIED);
    assert_eq!(daemon.db_count("SELECT COUNT(*) FROM templates"), 0);

    // Enrolled again where the rest of the stack (pam_permit for the password here)
    // authenticates the user: pam_setcred commits the pattern and the PIN.
    let mut login = typed_login(&daemon, USER, "", &answers, typed);
    login.stack = "auth required {module}\nauth required pam_permit.so".into();
    let (code, seen) = login.run();
    assert_eq!(seen, expected);
    assert_eq!(code, PAM_SUCCESS);
    assert_eq!(daemon.db_count("SELECT COUNT(*) FROM templates"), 1);

    // The next login verifies: typing 14 is one the matcher accepts against the first five.
    let (code, seen) = typed_login(
        &daemon,
        USER,
        "",
        &[FIXTURE_PHRASE, PIN],
        vec![g[14].clone()],
    )
    .run();
    assert_eq!(seen, vec![echo_on(PROMPT), echo_off("PIN: ")]);
    assert_eq!(code, PAM_SUCCESS);
    let events: Vec<String> = daemon.db_events().into_iter().map(|e| e.0).collect();
    assert!(
        events.contains(&"E_BEHAVIOR_AUTH_ENROLLED".to_string())
            && events.contains(&"E_USER_PIN_ENROLLED".to_string())
            && events.contains(&"E_BEHAVIOR_AUTH_SUCCEEDED".to_string()),
        "{events:?}"
    );
}

#[test]
fn impostor_timings_are_refused_until_max_tries() {
    let bus = PrivateBus::start();
    let daemon = enrolled(&bus, "behavior+pin", 10);
    let i = impostor();
    // The genuine timings with another text are refused too (second try).
    let (code, seen) = typed_login(
        &daemon,
        USER,
        "",
        &[FIXTURE_PHRASE, "xat17padn", FIXTURE_PHRASE],
        vec![i[0].clone(), genuine()[14].clone(), i[1].clone()],
    )
    .run();
    assert_eq!(
        seen,
        vec![
            echo_on(PROMPT),
            error(INCORRECT_PATTERN),
            echo_on(PROMPT),
            error(INCORRECT_PATTERN),
            echo_on(PROMPT),
            error("No tries left."),
        ]
    );
    assert_eq!(code, PAM_MAXTRIES);

    // max_tries on the module line caps the daemon's 3.
    let (code, seen) = typed_login(
        &daemon,
        USER,
        "max_tries=1",
        &[FIXTURE_PHRASE],
        vec![i[2].clone()],
    )
    .run();
    assert_eq!((code, seen), (PAM_MAXTRIES, vec![echo_on(PROMPT)]));
}

#[test]
fn a_wrong_pin_is_asked_again() {
    let bus = PrivateBus::start();
    let daemon = enrolled(&bus, "behavior+pin", 10);
    let (code, seen) = typed_login(
        &daemon,
        USER,
        "",
        &[FIXTURE_PHRASE, "111111", PIN],
        vec![genuine()[14].clone()],
    )
    .run();
    assert_eq!(
        seen,
        vec![
            echo_on(PROMPT),
            echo_off("PIN: "),
            error("Incorrect PIN. Please try again."),
            echo_off("PIN: "),
        ]
    );
    assert_eq!(code, PAM_SUCCESS);
}

#[test]
fn lockout_after_repeated_failures_then_unlocked_when_it_ends() {
    let bus = PrivateBus::start();
    let daemon = enrolled(&bus, "behavior+pin", 3);
    let i = impostor();
    let (code, seen) = typed_login(
        &daemon,
        USER,
        "",
        &[FIXTURE_PHRASE; 3],
        vec![i[0].clone(), i[1].clone(), i[2].clone()],
    )
    .run();
    assert_eq!(code, PAM_MAXTRIES);
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(
        seen[..5],
        [
            echo_on(PROMPT),
            error(INCORRECT_PATTERN),
            echo_on(PROMPT),
            error(INCORRECT_PATTERN),
            echo_on(PROMPT),
        ]
    );
    let Msg::Error(locked) = &seen[5] else {
        panic!("{seen:?}")
    };
    assert!(
        locked.starts_with("Too many failed attempts: locked out for "),
        "{locked}"
    );

    // Locked: refused at once, without a prompt, with the daemon's sentence.
    let (code, seen) = typed_login(&daemon, USER, "", &[], vec![]).run();
    assert_eq!(code, PAM_MAXTRIES);
    let [Msg::Error(locked)] = seen.as_slice() else {
        panic!("{seen:?}")
    };
    assert!(locked.contains("locked out for"), "{locked}");

    // The lockout (0.02 minutes) ends; the genuine typing and PIN work again.
    std::thread::sleep(Duration::from_millis(1300));
    let (code, seen) = typed_login(
        &daemon,
        USER,
        "",
        &[FIXTURE_PHRASE, PIN],
        vec![genuine()[14].clone()],
    )
    .run();
    assert_eq!(
        (code, seen),
        (PAM_SUCCESS, vec![echo_on(PROMPT), echo_off("PIN: ")])
    );
    let events: Vec<String> = daemon.db_events().into_iter().map(|e| e.0).collect();
    assert!(
        events.contains(&"E_USER_LOCKED_OUT".to_string()),
        "{events:?}"
    );
}

#[test]
fn a_daemon_killed_mid_login_gives_the_fail_mode_code() {
    let bus = PrivateBus::start();
    for (args, expected) in [("", PAM_AUTHINFO_UNAVAIL), ("fail=closed", PAM_AUTH_ERR)] {
        let daemon = enrolled(&bus, "behavior+pin", 10);
        let pid = daemon.pid() as libc::pid_t;
        let mut login = Login::new(args, daemon.bus_address()).answers(&[FIXTURE_PHRASE]);
        login.user = USER;
        let started = Instant::now();
        let (code, seen) = login
            .hook(|_, _| {
                // SAFETY: kill with the pid of the daemon this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            })
            .run();
        assert_eq!((code, seen), (expected, vec![echo_on(PROMPT)]), "{args:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_stopped_daemon_is_given_up_after_the_timeout() {
    let bus = PrivateBus::start();
    let daemon = enrolled(&bus, "behavior+pin", 10);
    let pid = daemon.pid() as libc::pid_t;
    let mut login = Login::new("timeout=1", daemon.bus_address()).answers(&[FIXTURE_PHRASE]);
    login.user = USER;
    let started = Instant::now();
    let (code, seen) = login
        .hook(|_, _| {
            // SAFETY: signals to the pid of the daemon this test started.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        })
        .run();
    let waited = started.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!((code, seen), (PAM_AUTHINFO_UNAVAIL, vec![echo_on(PROMPT)]));
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[test]
fn remote_logins_never_reach_the_daemon() {
    let bus = PrivateBus::start();
    let daemon = enrolled(&bus, "behavior+pin", 10);
    let before = daemon.db_events().len();
    let mut login = Login::new("", daemon.bus_address());
    login.user = USER;
    login.rhost = Some("198.51.100.4");
    assert_eq!(login.run(), (PAM_AUTHINFO_UNAVAIL, vec![]));
    login.stack = "auth required {module} remote=deny".into();
    assert_eq!(login.run(), (PAM_AUTH_ERR, vec![]));
    assert_eq!(daemon.db_events().len(), before);
}

#[test]
fn journey_none_and_skipped_enrollment_leave_the_decision_to_the_stack() {
    let bus = PrivateBus::start();
    let stack = "auth required {module}\nauth required pam_permit.so";

    let daemon = Daemon::start(&bus, &config("none", 10, false));
    let mut login = Login::new("", daemon.bus_address());
    login.user = USER;
    login.stack = stack.into();
    assert_eq!(login.run(), (PAM_SUCCESS, vec![]));
    drop(daemon);

    let daemon = Daemon::start(&bus, &config("behavior", 10, true));
    let mut login = typed_login(&daemon, USER, "", &[""], vec![genuine()[0].clone()]);
    login.stack = stack.into();
    let (code, seen) = login.run();
    assert_eq!(
        seen,
        vec![
            info("A typing pattern is displayed. Type the phrase exactly as shown."),
            info("To skip enrollment and log in without it, press Enter on an empty line."),
            info("Attempt 1 of 5"),
            echo_on(PROMPT),
            info("Enrollment skipped."),
        ]
    );
    assert_eq!(code, PAM_SUCCESS);
}
