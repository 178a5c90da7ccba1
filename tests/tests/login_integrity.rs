//! The login-integrity review's findings, each as a login through the real libpam and
//! `pam_behavior.so` against the real daemon on a private bus (typings injected through
//! `org.behaviord.Test1` at the moment the user "types"), with real SQLite behind it. Each
//! case gave PAM_SUCCESS or a fall-through on 51f0ae1; here it must not.
//!
//! Stacks: "passwordless" is `auth sufficient pam_behavior.so` followed by pam_deny (the
//! password that the attacker does not know) or pam_permit (a stack that authenticated the
//! user); "MFA" is pam_permit (the password, known) followed by the README's bracket line.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pam_harness;

use behavior_tests::{fixture_subject, Daemon, PrivateBus, Typing, FIXTURE_PHRASE};
use pam_harness::*;

const USER: &str = "nobody";
const PIN: &str = "482913";
const PASSWORDLESS_DENIED: &str = "auth sufficient {module}\nauth requisite pam_deny.so";
const PASSWORDLESS_AUTHENTICATED: &str = "auth sufficient {module}\nauth required pam_permit.so";
const MFA: &str = "auth required pam_permit.so\n\
                   auth [success=ok ignore=ignore authinfo_unavail=ignore default=die] {module}";

fn config(journey: &str, extra: &str) -> String {
    format!(
        r#"
phrase = "{FIXTURE_PHRASE}"
default_journey = "{journey}"
[enrollment]
behavior = true
pin = true
attempts = 5
{extra}
[pin]
length = 6
argon2_memory_kib = 256
argon2_iterations = 1
[verify]
max_tries = 3
[lockout]
failures = 5
minutes = 1
"#
    )
}

fn genuine() -> Vec<Typing> {
    fixture_subject("subject2")
}

fn impostor() -> Vec<Typing> {
    fixture_subject("subject4")
}

/// A login of `USER` through `stack`; each phrase prompt injects the next of `typed`.
fn login<'a>(
    daemon: &'a Daemon,
    stack: &str,
    answers: &[&'a str],
    typed: Vec<Typing>,
) -> Login<'a> {
    let mut login = typed_login(daemon, USER, "", answers, typed);
    login.stack = stack.to_string();
    login
}

/// A daemon under `journey` with `USER` enrolled (five genuine typings and the PIN).
fn enrolled(bus: &PrivateBus, journey: &str) -> Daemon {
    let daemon = Daemon::start(bus, &config(journey, ""));
    daemon.enroll(USER, &genuine()[..5], Some(PIN));
    daemon
}

/// Changes the daemon's database behind its back (what a full disk or a corrupt row does).
fn tamper(daemon: &Daemon, sql: &str) {
    let db = rusqlite::Connection::open(daemon.db_path()).unwrap();
    db.execute_batch(sql).unwrap();
}

/// `USER` typing the phrase (genuine typing 14, one the matcher accepts against the first
/// five) and the PIN, with no password behind the module.
fn owner_logs_in(daemon: &Daemon) -> (std::ffi::c_int, Vec<Msg>) {
    login(
        daemon,
        PASSWORDLESS_DENIED,
        &[FIXTURE_PHRASE, PIN],
        vec![genuine()[14].clone()],
    )
    .run()
}

/// The answers of a full enrollment: five typings of the phrase, then the PIN twice.
const ENROLL_ANSWERS: [&str; 7] = [
    FIXTURE_PHRASE,
    FIXTURE_PHRASE,
    FIXTURE_PHRASE,
    FIXTURE_PHRASE,
    FIXTURE_PHRASE,
    PIN,
    PIN,
];

fn count(daemon: &Daemon, table: &str) -> i64 {
    daemon.db_count(&format!("SELECT COUNT(*) FROM {table}"))
}

/// (name, outcome) of every event of `USER`, oldest first.
fn events(daemon: &Daemon) -> Vec<(String, String)> {
    daemon
        .db_events()
        .into_iter()
        .filter(|(_, user, _, _)| user == USER)
        .map(|(name, _, outcome, _)| (name, outcome))
        .collect()
}

fn has_event(daemon: &Daemon, name: &str, outcome: &str) -> bool {
    events(daemon)
        .iter()
        .any(|(n, o)| n == name && o == outcome)
}

/// Waits (at most 5 s) for an event the daemon records on its own time, such as the
/// abandonment it notices when a PAM application's connection closes.
fn eventually_has_event(daemon: &Daemon, name: &str, outcome: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if has_event(daemon, name, outcome) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

#[test]
fn finding_1_a_pin_set_up_at_login_is_not_the_pin_factor() {
    let bus = PrivateBus::start();
    let daemon = Daemon::start(&bus, &config("pin", ""));
    // The first person at the console chooses any PIN: no password, no login.
    let (code, seen) = login(&daemon, PASSWORDLESS_DENIED, &[PIN, PIN], vec![]).run();
    assert_eq!(code, PAM_AUTH_ERR, "{seen:?}");
    assert_eq!(count(&daemon, "pins"), 0, "the PIN was kept");
    // The module alone: PAM_IGNORE from its only line is no success either.
    let (code, _) = login(&daemon, "auth required {module}", &[PIN, PIN], vec![]).run();
    assert_ne!(code, PAM_SUCCESS);
    assert_eq!(count(&daemon, "pins"), 0);
}

#[test]
fn finding_1_a_new_pin_after_remove_pin_is_not_the_pin_factor() {
    let bus = PrivateBus::start();
    let daemon = enrolled(&bus, "behavior+pin");
    let out = daemon.ctl(&["remove-pin", USER]);
    assert!(out.status.success(), "{out:?}");
    // The genuine typing passes, then a new PIN is chosen: only half of the journey.
    let (code, seen) = login(
        &daemon,
        PASSWORDLESS_DENIED,
        &[FIXTURE_PHRASE, "111222", "111222"],
        vec![genuine()[14].clone()],
    )
    .run();
    assert_eq!(code, PAM_AUTH_ERR, "{seen:?}");
    assert!(seen.contains(&echo_off("Set up PIN: ")), "{seen:?}");
    assert_eq!(count(&daemon, "pins"), 0);
}

#[test]
fn finding_2_an_enrollment_is_stored_only_once_the_stack_authenticated_the_user() {
    let bus = PrivateBus::start();
    let daemon = Daemon::start(&bus, &config("behavior+pin", ""));
    let g = genuine();
    // An impostor enrolls their own typing and PIN on the account; the password refuses.
    let (code, seen) = login(
        &daemon,
        PASSWORDLESS_DENIED,
        &ENROLL_ANSWERS,
        impostor()[..5].to_vec(),
    )
    .run();
    assert_eq!(code, PAM_AUTH_ERR, "{seen:?}");
    assert_eq!(
        count(&daemon, "templates"),
        0,
        "the impostor's pattern was kept"
    );
    assert_eq!(count(&daemon, "pins"), 0, "the impostor's PIN was kept");
    assert!(eventually_has_event(
        &daemon,
        "E_BEHAVIOR_AUTH_ENROLLED",
        "abandoned"
    ));
    assert!(eventually_has_event(
        &daemon,
        "E_USER_PIN_ENROLLED",
        "abandoned"
    ));

    // The next login still enrolls (nothing to verify against); this time the rest of the
    // stack authenticates the user, and setcred commits the enrollment.
    let (code, seen) = login(
        &daemon,
        PASSWORDLESS_AUTHENTICATED,
        &ENROLL_ANSWERS,
        g[..5].to_vec(),
    )
    .run();
    assert_eq!(code, PAM_SUCCESS, "{seen:?}");
    assert_eq!(
        seen[0],
        info("A typing pattern is displayed. Type the phrase exactly as shown.")
    );
    assert_eq!(count(&daemon, "templates"), 1);
    assert_eq!(count(&daemon, "pins"), 1);
    assert!(has_event(&daemon, "E_BEHAVIOR_AUTH_ENROLLED", "success"));

    // Now the pattern and PIN are verified, and alone they log the user in.
    let (code, seen) = owner_logs_in(&daemon);
    assert_eq!(code, PAM_SUCCESS, "{seen:?}");
}

#[test]
fn finding_2_an_expired_pattern_is_not_replaced_by_a_login_that_failed() {
    let bus = PrivateBus::start();
    let daemon = Daemon::start(&bus, &config("behavior+pin", "template_validity_days = 30"));
    daemon.enroll(USER, &genuine()[..5], Some(PIN));
    // Expire it: enrolled a year ago.
    tamper(&daemon, "UPDATE templates SET enrolled_at = 1000");
    let (code, seen) = login(
        &daemon,
        PASSWORDLESS_DENIED,
        &[
            FIXTURE_PHRASE,
            FIXTURE_PHRASE,
            FIXTURE_PHRASE,
            FIXTURE_PHRASE,
            FIXTURE_PHRASE,
            PIN,
        ],
        impostor()[..5].to_vec(),
    )
    .run();
    assert_eq!(code, PAM_AUTH_ERR, "{seen:?}");
    assert_eq!(
        daemon.db_count("SELECT enrolled_at FROM templates"),
        1000,
        "the expired row was replaced by the impostor's"
    );
}

#[test]
fn finding_4_a_store_that_cannot_record_a_rejection_still_rejects() {
    let bus = PrivateBus::start();
    let daemon = enrolled(&bus, "behavior+pin");
    // From now on every write of an event fails, as on a full disk.
    tamper(
        &daemon,
        "CREATE TRIGGER full BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    );
    let imp = impostor();
    let (code, seen) = login(&daemon, MFA, &[FIXTURE_PHRASE], vec![imp[0].clone()]).run();
    assert_eq!(code, PAM_MAXTRIES, "{seen:?}");
    assert_eq!(
        daemon.db_count("SELECT COUNT(*) FROM lockouts WHERE failures > 0"),
        0
    );
}

#[test]
fn finding_4_an_unreadable_pattern_refuses_the_login_with_an_event() {
    let bus = PrivateBus::start();
    let daemon = enrolled(&bus, "behavior+pin");
    tamper(
        &daemon,
        "UPDATE templates SET template = '{\"not\": \"a template\"}'",
    );
    let (code, seen) = login(&daemon, MFA, &[], vec![]).run();
    assert_eq!(code, PAM_AUTH_ERR, "{seen:?}");
    assert!(
        seen.iter()
            .any(|m| matches!(m, Msg::Error(t) if t.contains("cannot be read"))),
        "{seen:?}"
    );
    assert!(has_event(&daemon, "E_BEHAVIOR_AUTH_FAILED", "unreadable"));
}

#[test]
fn finding_8_a_policy_file_with_a_syntax_error_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("behaviord.toml");
    // `fail = "closed"` is there; a typo far below it must not turn it into open.
    std::fs::write(
        &policy,
        "fail = \"closed\"\ndeny_remote = true\n[thresholds]\naccept = = 2.0\n",
    )
    .unwrap();
    let bus = absent_bus(dir.path());
    let mut l = Login::new(&format!("policy={}", policy.display()), &bus);
    l.stack = MFA.replace(
        "{module}",
        &format!("{{module}} policy={}", policy.display()),
    );
    let (code, seen) = l.run();
    assert_eq!(code, PAM_AUTH_ERR, "{seen:?}");
    assert!(seen.is_empty(), "nothing is asked: {seen:?}");
}

#[test]
fn finding_13_a_non_utf8_remote_host_is_remote() {
    let dir = tempfile::tempdir().unwrap();
    let bus = absent_bus(dir.path());
    // With remote=deny a remote login is refused; one read as local would reach the
    // (absent) daemon and fall through instead.
    let mut l = Login::new("remote=deny", &bus);
    l.raw_rhost = Some(b"host\xff.example");
    let (code, _) = l.run();
    assert_eq!(code, PAM_AUTH_ERR);
    let mut l = Login::new("fail=closed", &bus);
    l.raw_rhost = Some(b"\xfe\xfe");
    let (code, _) = l.run();
    assert_eq!(
        code, PAM_AUTHINFO_UNAVAIL,
        "remote (falls through), not the closed fail mode of a local login"
    );
}

#[test]
fn finding_16_every_outcome_leaves_an_event() {
    let bus = PrivateBus::start();
    let mut daemon = Daemon::start(&bus, &config("behavior+pin", ""));
    daemon.enroll(USER, &genuine()[..5], Some(PIN));
    std::fs::write(daemon.config_path(), config("pin", "")).unwrap();
    daemon.stop();
    daemon.restart();
    // A PIN-only login that succeeds.
    let (code, seen) = login(&daemon, PASSWORDLESS_DENIED, &[PIN], vec![]).run();
    assert_eq!(code, PAM_SUCCESS, "{seen:?}");
    assert!(has_event(&daemon, "E_USER_PIN_SUCCEEDED", "success"));

    // An enrollment that does not complete (three typings of the wrong text).
    let bus = PrivateBus::start();
    let daemon = Daemon::start(&bus, &config("behavior+pin", ""));
    let wrong = ".xat17padm";
    let (code, seen) = login(
        &daemon,
        PASSWORDLESS_DENIED,
        &[wrong, wrong, wrong],
        genuine()[..3].to_vec(),
    )
    .run();
    assert_ne!(code, PAM_SUCCESS, "{seen:?}");
    assert!(
        has_event(&daemon, "E_BEHAVIOR_AUTH_ENROLLED", "failure"),
        "{:?}",
        events(&daemon)
    );
}

#[test]
fn finding_9_typing_the_wrong_text_at_someone_else_s_prompt_locks_nobody_out() {
    let bus = PrivateBus::start();
    let daemon = Daemon::start(
        &bus,
        &config("behavior+pin", "").replace("failures = 5", "failures = 2"),
    );
    daemon.enroll(USER, &genuine()[..5], Some(PIN));
    // Two logins of wrong text with no key pressed (pasted, or typed elsewhere).
    for _ in 0..2 {
        let mut l = Login::new("", daemon.bus_address()).answers(&["x", "y", "z"]);
        l.user = USER;
        l.stack = MFA.into();
        let (code, seen) = l.run();
        assert_eq!(code, PAM_MAXTRIES, "{seen:?}");
    }
    assert_eq!(
        daemon.db_count("SELECT COALESCE(MAX(failures), 0) FROM lockouts"),
        0,
        "unjudged typings counted towards the lockout"
    );
    // The owner still logs in.
    let (code, seen) = owner_logs_in(&daemon);
    assert_eq!(code, PAM_SUCCESS, "{seen:?}");
}

#[test]
fn finding_10_an_exact_replay_of_an_enrollment_typing_is_refused() {
    let bus = PrivateBus::start();
    let daemon = Daemon::start(&bus, &config("behavior+pin", ""));
    let g = genuine();
    daemon.enroll(USER, &g[..5], Some(PIN));
    // The recording of enrollment typing 2, played back: the matcher alone accepts it.
    let (code, seen) = login(
        &daemon,
        PASSWORDLESS_DENIED,
        &[FIXTURE_PHRASE, FIXTURE_PHRASE, FIXTURE_PHRASE],
        vec![g[2].clone(), g[2].clone(), g[2].clone()],
    )
    .run();
    assert_eq!(code, PAM_AUTH_ERR, "{seen:?}");
    assert!(has_event(&daemon, "E_BEHAVIOR_AUTH_FAILED", "replay"));
    // A fresh typing passes; replaying it right after is refused too.
    let (code, seen) = owner_logs_in(&daemon);
    assert_eq!(code, PAM_SUCCESS, "{seen:?}");
    let (code, _) = login(
        &daemon,
        PASSWORDLESS_DENIED,
        &[FIXTURE_PHRASE, FIXTURE_PHRASE, FIXTURE_PHRASE],
        vec![g[14].clone(), g[14].clone(), g[14].clone()],
    )
    .run();
    assert_eq!(code, PAM_AUTH_ERR);
}

#[test]
fn finding_12_a_new_phrase_is_refused_while_users_are_enrolled_unless_forced() {
    let bus = PrivateBus::start();
    let daemon = enrolled(&bus, "behavior+pin");
    let out = daemon.ctl(&["set", "phrase", "a whole new phrase"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 user(s) enrolled") && err.contains("--force"),
        "{err}"
    );
    let shown = String::from_utf8_lossy(&daemon.ctl(&["show", USER]).stdout).into_owned();
    assert!(!shown.contains("re-enroll"), "{shown}");
    // Forced: the pattern is marked for re-enrollment, and the next login enrolls again.
    let out = daemon.ctl(&["set", "phrase", "a whole new phrase", "--force"]);
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&daemon.ctl(&["show", USER]).stdout).into_owned();
    assert!(shown.contains("re-enroll"), "{shown}");
    let conn = daemon.connect();
    let auth = behavior_ipc::auth::AuthProxyBlocking::new(&conn).unwrap();
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(b.stage, behavior_ipc::auth::Stage::Enroll, "{b:?}");
    assert_eq!(b.phrase, "a whole new phrase");
}

#[test]
fn finding_9_root_is_exempt_from_the_lockout_unless_the_policy_says_otherwise() {
    let bus = PrivateBus::start();
    let policy = |deny_root: bool| {
        config("behavior+pin", "").replace(
            "failures = 5",
            &format!("failures = 2\neven_deny_root = {deny_root}"),
        )
    };
    let mut daemon = Daemon::start(&bus, &policy(false));
    daemon.enroll("root", &genuine()[..5], Some(PIN));
    // One login: the typing, then `pins` wrong PINs.
    let wrong_pins = |daemon: &Daemon, k: usize, pins: usize| {
        let answers = [FIXTURE_PHRASE, "000000", "000001", "000002"];
        let mut l = login(
            daemon,
            MFA,
            &answers[..=pins],
            vec![genuine()[14].retyped(k)],
        );
        l.user = "root";
        l.tty = Some("tty3");
        l.run()
    };
    for k in 0..2 {
        let (code, seen) = wrong_pins(&daemon, k, 3);
        assert_eq!(code, PAM_MAXTRIES, "{seen:?}");
    }
    {
        let mut l = login(
            &daemon,
            MFA,
            &[FIXTURE_PHRASE, PIN],
            vec![genuine()[14].retyped(2)],
        );
        l.user = "root";
        let (code, seen) = l.run();
        assert_eq!(code, PAM_SUCCESS, "root was locked out: {seen:?}");
    }

    // lockout.even_deny_root = true: root is locked like anyone, and the event says where.
    std::fs::write(daemon.config_path(), policy(true)).unwrap();
    daemon.stop();
    daemon.restart();
    // Locked at the second wrong PIN.
    let (code, _) = wrong_pins(&daemon, 3, 2);
    assert_eq!(code, PAM_MAXTRIES);
    let db = rusqlite::Connection::open(daemon.db_path()).unwrap();
    let (user, service, tty): (String, String, String) = db
        .query_row(
            "SELECT user, service, tty FROM events WHERE name = 'E_USER_LOCKED_OUT'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (user.as_str(), service.as_str(), tty.as_str()),
        ("root", "behavior-test", "tty3")
    );
}

#[test]
fn finding_4_an_unusable_row_of_a_factor_the_journey_does_not_ask_skips_nothing() {
    let bus = PrivateBus::start();
    let mut daemon = enrolled(&bus, "behavior+pin");
    std::fs::write(daemon.config_path(), config("behavior", "")).unwrap();
    daemon.stop();
    daemon.restart();
    tamper(&daemon, "UPDATE pins SET phc = 7");
    // The typing is still judged: an impostor is refused, not let through on the password.
    let imp = impostor();
    let (code, seen) = login(
        &daemon,
        MFA,
        &[FIXTURE_PHRASE; 3],
        vec![imp[0].clone(), imp[1].clone(), imp[2].clone()],
    )
    .run();
    assert_eq!(code, PAM_MAXTRIES, "{seen:?}");
}

#[test]
fn an_expired_pattern_with_enrollment_off_refuses_instead_of_skipping_the_factor() {
    let bus = PrivateBus::start();
    let mut daemon = enrolled(&bus, "behavior+pin");
    tamper(&daemon, "UPDATE templates SET enrolled_at = 1000");
    let off = config("behavior+pin", "template_validity_days = 30").replace(
        "behavior = true\npin = true",
        "behavior = false\npin = false",
    );
    std::fs::write(daemon.config_path(), off).unwrap();
    daemon.stop();
    daemon.restart();
    let (code, seen) = login(&daemon, MFA, &[], vec![]).run();
    assert_eq!(code, PAM_AUTH_ERR, "{seen:?}");
    assert!(has_event(&daemon, "E_BEHAVIOR_AUTH_FAILED", "expired"));
}

/// Builds the LD_PRELOAD shim that makes the daemon's account lookups case-insensitive.
fn case_insensitive_nss(dir: &std::path::Path) -> String {
    let source = behavior_tests::workspace_root().join("tests/fixtures/nss_case_insensitive.c");
    let lib = dir.join("nss_case_insensitive.so");
    let out = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&source)
        .arg("-ldl")
        .output()
        .unwrap();
    assert!(out.status.success(), "cc: {out:?}");
    lib.display().to_string()
}

#[test]
fn finding_6_a_name_in_another_case_is_the_same_account() {
    let dir = tempfile::tempdir().unwrap();
    let shim = case_insensitive_nss(dir.path());
    let bus = PrivateBus::start();
    let mut daemon = enrolled(&bus, "behavior+pin");
    // Enrollment off: a user the daemon took for a new one would be let through.
    std::fs::write(
        daemon.config_path(),
        config("behavior+pin", "").replace(
            "behavior = true\npin = true",
            "behavior = false\npin = false",
        ),
    )
    .unwrap();
    daemon.stop();
    daemon.env.push(("LD_PRELOAD".into(), shim));
    daemon.restart();
    // "NOBODY" is nobody: the impostor's typing is judged against nobody's pattern.
    let imp = impostor();
    let mut l = login(
        &daemon,
        MFA,
        &[FIXTURE_PHRASE; 3],
        vec![imp[0].clone(), imp[1].clone(), imp[2].clone()],
    );
    l.user = "NOBODY";
    let (code, seen) = l.run();
    assert_eq!(code, PAM_MAXTRIES, "{seen:?}");
    // ...and the failures are nobody's, under the one canonical name.
    assert_eq!(
        daemon.db_count("SELECT failures FROM lockouts WHERE user = 'nobody'"),
        3
    );
    assert_eq!(
        daemon.db_count("SELECT COUNT(*) FROM users WHERE name <> 'nobody'"),
        0,
        "a second record under the name as typed"
    );
}
