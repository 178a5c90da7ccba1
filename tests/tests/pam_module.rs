//! pam_behavior.so loaded by the real libpam: without a daemon, and against a scripted mock
//! daemon on a private bus for what the real daemon cannot be made to do (reply late, die
//! mid-login, lie in its verdict). Every case asserts the exact conversation and PAM code.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pam_harness;

use std::time::{Duration, Instant};

use behavior_tests::{open_tempdir, workspace_root, PrivateBus};
use pam_harness::*;
use serde_json::{json, Value};

const PHRASE: &str = "correct horse battery";
const PROMPT: &str = "Type the phrase: correct horse battery\nPhrase: ";
const FETCH_FAILED: &str = "Unauthorized. Failed to fetch typing phrase.";

fn begin(
    journey: &str,
    stage: &str,
    pin_verify: bool,
    pin_enroll: bool,
    allow_skip: bool,
) -> Value {
    json!({"method": "Begin", "return": [
        "h1", journey, stage, PHRASE, 3, 3, pin_verify, pin_enroll, 4, allow_skip, 120
    ]})
}

fn step(method: &str, ret: Value) -> Value {
    json!({"method": method, "return": ret})
}

fn verify(status: &str, left: u32) -> Value {
    json!([status, left, ""])
}

#[test]
fn absent_daemon_falls_through_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (code, seen) = Login::new("", &absent_bus(dir.path())).run();
    assert_eq!(code, PAM_AUTHINFO_UNAVAIL);
    assert_eq!(seen, vec![error(FETCH_FAILED)]);
}

#[test]
fn pam_silent_hides_messages_but_not_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut login = Login::new("", &absent_bus(dir.path()));
    login.flags = PAM_SILENT;
    assert_eq!(login.run(), (PAM_AUTHINFO_UNAVAIL, vec![]));
}

#[test]
fn absent_daemon_fails_closed_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let bus = absent_bus(dir.path());
    let (code, seen) = Login::new("fail=closed", &bus).run();
    assert_eq!(code, PAM_AUTH_ERR);
    assert_eq!(seen, vec![error(FETCH_FAILED)]);

    // The same from a conf= file; a pam.d argument overrides the file.
    let conf = dir.path().join("pam_behavior.conf");
    std::fs::write(&conf, "# clean room\nfail=closed\n").unwrap();
    let args = format!("conf={}", conf.display());
    assert_eq!(Login::new(&args, &bus).run().0, PAM_AUTH_ERR);
    let args = format!("conf={} fail=open", conf.display());
    assert_eq!(Login::new(&args, &bus).run().0, PAM_AUTHINFO_UNAVAIL);

    // The daemon's own policy file (`fail`, `deny_remote` at its top level) sets the default
    // the module files and arguments override: it is read by the module, since a daemon that
    // is down cannot say it.
    let policy = dir.path().join("behaviord.toml");
    std::fs::write(
        &policy,
        "phrase = \"x\"\nfail = \"closed\"\ndeny_remote = true\n[enrollment]\nbehavior = true\n",
    )
    .unwrap();
    let args = format!("policy={}", policy.display());
    assert_eq!(
        Login::new(&args, &bus).run(),
        (PAM_AUTH_ERR, vec![error(FETCH_FAILED)])
    );
    let mut remote = Login::new(&args, &bus);
    remote.rhost = Some("192.0.2.10");
    assert_eq!(remote.run(), (PAM_AUTH_ERR, vec![]));
    let args = format!("policy={} conf={}", policy.display(), conf.display());
    std::fs::write(&conf, "fail=open\n").unwrap();
    assert_eq!(Login::new(&args, &bus).run().0, PAM_AUTHINFO_UNAVAIL);
}

#[test]
fn a_bus_without_the_daemon_is_an_absent_daemon() {
    let bus = PrivateBus::start();
    let (code, seen) = Login::new("", bus.address()).run();
    assert_eq!(code, PAM_AUTHINFO_UNAVAIL);
    assert_eq!(seen, vec![error(FETCH_FAILED)]);
}

#[test]
fn unknown_and_malformed_arguments_are_ignored_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let bus = absent_bus(dir.path());
    let (code, seen) = Login::new(
        "bogus max_tries=lots timeout=-1 factors=face fail=closed",
        &bus,
    )
    .run();
    // fail=closed still applies: the bad ones were skipped, not the whole line.
    assert_eq!(code, PAM_AUTH_ERR);
    assert_eq!(seen, vec![error(FETCH_FAILED)]);
}

#[test]
fn a_bus_that_never_answers_is_given_up_after_the_timeout() {
    // A socket that accepts connections (backlog) but never speaks: the handshake hangs.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let started = Instant::now();
    let (code, seen) = Login::new("timeout=1", &format!("unix:path={}", path.display())).run();
    assert_eq!(code, PAM_AUTHINFO_UNAVAIL);
    assert_eq!(seen, vec![error(FETCH_FAILED)]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_daemon_name_not_owned_by_root_is_not_trusted() {
    // Where the shipped bus policy is missing, any user could own the name and say yes.
    let bus = PrivateBus::start_open();
    let script = json!([
        begin("behavior", "verify", false, false, false),
        step("OpenCapture", Value::Null),
        step("SubmitVerification", verify("accepted", 3)),
        step("Finish", json!([true, ["behavior"]])),
    ]);
    let fake = MockDaemon::start_as(bus.address(), script.clone(), Some("nobody"));
    let (code, seen) = Login::new("", bus.address()).answers(&[]).run();
    assert_eq!(
        (code, seen),
        (PAM_AUTHINFO_UNAVAIL, vec![error(FETCH_FAILED)])
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    drop(fake);
    // Control: the same script from root is believed.
    let _real = MockDaemon::start_as(bus.address(), script, None);
    let (code, _) = Login::new("", bus.address()).answers(&[PHRASE]).run();
    assert_eq!(code, PAM_SUCCESS);
}

#[test]
fn a_daemon_that_is_not_running_is_started_by_bus_activation() {
    // The package ships an activation file; the module's first call starts the daemon.
    let dir = open_tempdir();
    let script = dir.path().join("script.json");
    let calls = dir.path().join("calls.log");
    let steps = json!([
        begin("behavior", "verify", false, false, false),
        step("OpenCapture", Value::Null),
        step("SubmitVerification", verify("accepted", 3)),
        step("Finish", json!([true, ["behavior"]])),
    ]);
    std::fs::write(&script, steps.to_string()).unwrap();
    let services = dir.path().join("services");
    std::fs::create_dir(&services).unwrap();
    std::fs::write(
        services.join("org.behaviord.Behavior1.service"),
        format!(
            "[D-BUS Service]\nName=org.behaviord.Behavior1\nExec=/usr/bin/python3 {} {} {}\nUser=root\n",
            workspace_root()
                .join("tests/fixtures/mock_behaviord.py")
                .display(),
            script.display(),
            calls.display()
        ),
    )
    .unwrap();
    let bus =
        PrivateBus::start_open_with(&format!("<servicedir>{}</servicedir>", services.display()));
    let (code, seen) = Login::new("", bus.address()).answers(&[PHRASE]).run();
    assert_eq!((code, seen), (PAM_SUCCESS, vec![echo_on(PROMPT)]));
    let called = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        called.lines().collect::<Vec<_>>(),
        vec![
            "Begin alice",
            "OpenCapture h1",
            "SubmitVerification h1",
            "Finish h1"
        ]
    );
    // The activated mock outlives the bus only until it notices the bus is gone.
    drop(bus);
}

#[test]
fn remote_logins_fall_through_without_calling_the_daemon() {
    let bus = PrivateBus::start();
    let mock = MockDaemon::start(&bus, json!([]));
    let mut login = Login::new("", bus.address());
    login.rhost = Some("192.0.2.10");
    assert_eq!(login.run(), (PAM_AUTHINFO_UNAVAIL, vec![]));

    login.stack = "auth required {module} remote=deny".into();
    assert_eq!(login.run(), (PAM_AUTH_ERR, vec![]));

    // sshd's PAM_TTY is remote without asking. A pseudo-terminal goes to the daemon,
    // which decides from logind's record of the caller's session, whatever XDG_SEAT the
    // environment claims (here the mock's empty script answers with an error that is no
    // `org.behaviord.Error`, which counts as a failing daemon).
    let mut login = Login::new("", bus.address());
    login.tty = Some("ssh");
    assert_eq!(login.run(), (PAM_AUTHINFO_UNAVAIL, vec![]));
    assert!(mock.calls().is_empty(), "{:?}", mock.calls());
    login.tty = Some("/dev/pts/7");
    login.seat = Some("seat0");
    assert_eq!(
        login.run(),
        (PAM_AUTHINFO_UNAVAIL, vec![error(FETCH_FAILED)])
    );
    assert_eq!(mock.calls(), vec!["Begin alice"]);

    // localhost is local.
    let mut login = Login::new("", bus.address());
    login.rhost = Some("localhost");
    login.run();
    assert_eq!(mock.calls().len(), 2);
}

#[test]
fn verify_pattern_and_pin_over_the_real_bus() {
    let bus = PrivateBus::start();
    let mock = MockDaemon::start(
        &bus,
        json!([
            begin("behavior+pin", "verify", true, false, false),
            step("OpenCapture", Value::Null),
            step("SubmitVerification", verify("rejected", 2)),
            step("OpenCapture", Value::Null),
            step("SubmitVerification", verify("accepted", 2)),
            step("VerifyPin", verify("rejected", 2)),
            step("VerifyPin", verify("accepted", 2)),
            step("Finish", json!([true, ["behavior", "pin"]])),
        ]),
    );
    // The hook sees each prompt with its answer just before it is sent (where the
    // real-daemon tests inject the key timings).
    let mut typed = Vec::new();
    let (code, seen) = Login::new("debug", bus.address())
        .answers(&["correct horse batery", PHRASE, "0000", "4821"])
        .hook(|prompt, answer| typed.push(format!("{prompt}|{answer}")))
        .run();
    assert_eq!(
        typed,
        vec![
            format!("{PROMPT}|correct horse batery"),
            format!("{PROMPT}|{PHRASE}"),
            "PIN: |0000".to_string(),
            "PIN: |4821".to_string(),
        ]
    );
    assert_eq!(
        seen,
        vec![
            echo_on(PROMPT),
            error("Incorrect pattern. Please try again."),
            echo_on(PROMPT),
            echo_off("PIN: "),
            error("Incorrect PIN. Please try again."),
            echo_off("PIN: "),
        ]
    );
    assert_eq!(code, PAM_SUCCESS);
    assert_eq!(
        mock.calls(),
        vec![
            "Begin alice",
            "OpenCapture h1",
            "SubmitVerification h1",
            "OpenCapture h1",
            "SubmitVerification h1",
            "VerifyPin h1",
            "VerifyPin h1",
            "Finish h1",
        ]
    );
}

#[test]
fn max_tries_then_a_lying_verdict_is_still_maxtries() {
    let bus = PrivateBus::start();
    let _mock = MockDaemon::start(
        &bus,
        json!([
            begin("behavior", "verify", false, false, false),
            step("OpenCapture", Value::Null),
            step("SubmitVerification", verify("rejected", 1)),
            step("OpenCapture", Value::Null),
            step("SubmitVerification", verify("rejected", 0)),
            // A daemon that claims success after the tries ran out does not get it.
            step("Finish", json!([true, ["behavior"]])),
        ]),
    );
    let (code, seen) = Login::new("max_tries=2", bus.address())
        .answers(&["impostor", "impostor"])
        .run();
    assert_eq!(code, PAM_MAXTRIES);
    assert_eq!(
        seen,
        vec![
            echo_on(PROMPT),
            error("Incorrect pattern. Please try again."),
            echo_on(PROMPT),
        ]
    );
}

#[test]
fn a_slow_daemon_is_given_up_after_the_timeout_and_its_late_reply_ignored() {
    let bus = PrivateBus::start();
    let script = json!([
        begin("behavior", "verify", false, false, false),
        step("OpenCapture", Value::Null),
        // Arrives after the module stopped waiting: it must not count.
        {"method": "SubmitVerification", "delay": 4.0, "return": verify("accepted", 3)},
    ]);
    for (args, expected) in [
        ("timeout=1", PAM_AUTHINFO_UNAVAIL),
        ("timeout=1 fail=closed", PAM_AUTH_ERR),
    ] {
        let mock = MockDaemon::start(&bus, script.clone());
        let started = Instant::now();
        let (code, seen) = Login::new(args, bus.address()).answers(&[PHRASE]).run();
        assert_eq!(code, expected, "{args}");
        assert_eq!(seen, vec![echo_on(PROMPT)]);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        // No Finish: after a timeout the module does not wait for the daemon again.
        assert_eq!(
            mock.calls(),
            vec!["Begin alice", "OpenCapture h1", "SubmitVerification h1"]
        );
    }
}

#[test]
fn a_daemon_killed_mid_login_gives_the_fail_mode_code() {
    let bus = PrivateBus::start();
    let script = json!([
        begin("behavior+pin", "verify", true, false, false),
        step("OpenCapture", Value::Null),
        {"method": "SubmitVerification", "die": true},
    ]);
    for (args, expected) in [("", PAM_AUTHINFO_UNAVAIL), ("fail=closed", PAM_AUTH_ERR)] {
        let mock = MockDaemon::start(&bus, script.clone());
        let started = Instant::now();
        let (code, seen) = Login::new(args, bus.address()).answers(&[PHRASE]).run();
        assert_eq!(code, expected, "{args:?}");
        assert_eq!(seen, vec![echo_on(PROMPT)]);
        // The bus reports the death at once; no timeout is waited for.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(mock.calls().len(), 3);
    }
}

#[test]
fn a_stale_handle_fails_the_login() {
    let bus = PrivateBus::start();
    let mock = MockDaemon::start(
        &bus,
        json!([
            begin("behavior", "verify", false, false, false),
            step("OpenCapture", Value::Null),
            {"method": "SubmitVerification", "error": "NoSuchHandle", "message": "The handle is unknown or expired."},
            {"method": "Finish", "error": "NoSuchHandle", "message": "The handle is unknown or expired."},
        ]),
    );
    let (code, seen) = Login::new("", bus.address()).answers(&[PHRASE]).run();
    assert_eq!(code, PAM_AUTH_ERR);
    assert_eq!(seen, vec![echo_on(PROMPT)]);
    assert_eq!(mock.calls().len(), 4);
}

#[test]
fn daemon_errors_at_begin_map_to_documented_codes() {
    let bus = PrivateBus::start();
    let cases = [
        ("UnknownUser", PAM_USER_UNKNOWN, vec![]),
        (
            "LockedOut",
            PAM_MAXTRIES,
            vec![error("Locked out until 09:30.")],
        ),
        ("NotEnrolled", PAM_AUTHINFO_UNAVAIL, vec![]),
        (
            "PolicyDenied",
            PAM_AUTH_ERR,
            vec![error("Locked out until 09:30.")],
        ),
        ("Storage", PAM_AUTHINFO_UNAVAIL, vec![error(FETCH_FAILED)]),
    ];
    for (name, expected, shown) in cases {
        let _mock = MockDaemon::start(
            &bus,
            json!([{"method": "Begin", "error": name, "message": "Locked out until 09:30."}]),
        );
        let (code, seen) = Login::new("", bus.address()).run();
        assert_eq!((code, seen), (expected, shown), "{name}");
    }
}

#[test]
fn enrollment_with_pin_set_up_over_the_real_bus() {
    let bus = PrivateBus::start();
    let _mock = MockDaemon::start(
        &bus,
        json!([
            begin("behavior+pin", "enroll", false, true, false),
            step("OpenCapture", Value::Null),
            step("SubmitEnrollment", json!(["accepted", 2, 3, ""])),
            step("OpenCapture", Value::Null),
            step("SubmitEnrollment", json!(["mismatch", 2, 3, ""])),
            step("OpenCapture", Value::Null),
            step("SubmitEnrollment", json!(["accepted", 3, 3, ""])),
            step("OpenCapture", Value::Null),
            step("SubmitEnrollment", json!(["complete", 3, 3, ""])),
            step("EnrollPin", Value::Null),
            step("Finish", json!([true, ["behavior", "pin"]])),
        ]),
    );
    // Enrolling is not logging in: with the module `sufficient` before a password that
    // fails (pam_deny standing in), the login fails, whatever the daemon says of factors.
    let mut login = Login::new("", bus.address()).answers(&[
        PHRASE,
        "correct horse",
        PHRASE,
        PHRASE,
        "4821",
        "4821",
    ]);
    login.stack = "auth sufficient {module}\nauth required pam_deny.so".into();
    let (code, seen) = login.run();
    assert_eq!(
        seen,
        vec![
            info("A typing pattern is displayed. Type the phrase exactly as shown."),
            info("Attempt 1 of 3"),
            echo_on(PROMPT),
            info("Attempt 2 of 3"),
            echo_on(PROMPT),
            error("Typed phrases do not match."),
            info("Attempt 2 of 3"),
            echo_on(PROMPT),
            info("Attempt 3 of 3"),
            echo_on(PROMPT),
            info("Typing pattern registered."),
            echo_off("Set up PIN: "),
            echo_off("Re-enter PIN: "),
            info("PIN registered."),
        ]
    );
    assert_eq!(code, PAM_AUTH_ERR);
}

#[test]
fn skipping_enrollment_or_a_none_journey_is_ignored_by_the_stack() {
    let bus = PrivateBus::start();
    let _mock = MockDaemon::start(
        &bus,
        json!([
            begin("behavior", "enroll", false, false, true),
            step("OpenCapture", Value::Null),
            step("SkipEnrollment", Value::Null),
            step("Finish", json!([false, []])),
            begin("none", "skip", false, false, false),
            step("Finish", json!([true, []])),
        ]),
    );
    // PAM_IGNORE from the only module: libpam reports that no module decided.
    let login = Login::new("", bus.address()).answers(&[""]);
    let (code, seen) = login.run();
    assert_eq!(code, PAM_PERM_DENIED);
    assert_eq!(
        seen,
        vec![
            info("A typing pattern is displayed. Type the phrase exactly as shown."),
            info("To skip enrollment and log in without it, press Enter on an empty line."),
            info("Attempt 1 of 3"),
            echo_on(PROMPT),
            info("Enrollment skipped."),
        ]
    );
    // In a stack, an ignored module leaves the decision to the others.
    let mut login = Login::new("", bus.address());
    login.stack = "auth required {module}\nauth required pam_permit.so".into();
    assert_eq!(login.run(), (PAM_SUCCESS, vec![]));
}
