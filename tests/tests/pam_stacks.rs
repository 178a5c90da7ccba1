//! The shipped etc/pam.d examples, run by the real libpam with pam_permit / pam_deny
//! standing in for pam_unix (a right / wrong password): each way pam_behavior can end
//! gives the login result the comments in those files promise.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pam_harness;

use behavior_tests::{workspace_root, PrivateBus};
use pam_harness::*;
use serde_json::{json, Value};

const PHRASE: &str = "correct horse battery";
const PROMPT: &str = "Type the phrase: correct horse battery\nPhrase: ";
const FETCH_FAILED: &str = "Unauthorized. Failed to fetch typing phrase.";

/// The shipped file with the built module, `password` ("pam_permit.so" or "pam_deny.so")
/// instead of pam_unix, and `extra` appended to the pam_behavior arguments.
fn stack(file: &str, password: &str, extra: &str) -> String {
    let text = std::fs::read_to_string(workspace_root().join("etc/pam.d").join(file)).unwrap();
    assert!(text.contains("pam_unix.so") && text.contains("pam_behavior.so"));
    text.replace("pam_unix.so", password)
        .replace("pam_behavior.so", &format!("{{module}} {extra}"))
}

fn login<'a>(bus: &str, stack: String) -> Login<'a> {
    let mut login = Login::new("", bus);
    login.stack = stack;
    login
}

fn verify_script(status: &str, finish: bool) -> Value {
    json!([
        {"method": "Begin", "return": ["h1", "behavior", "verify", PHRASE, 3, 1, false, false, 4, false, 120]},
        {"method": "OpenCapture", "return": null},
        {"method": "SubmitVerification", "return": [status, 0, ""]},
        {"method": "Finish", "return": [finish, if finish { vec!["behavior"] } else { vec![] }]},
    ])
}

#[test]
fn mfa_needs_the_password_and_the_pattern() {
    let bus = PrivateBus::start();
    let mfa = |password, extra| stack("behavior-mfa", password, extra);

    let mock = MockDaemon::start(&bus, verify_script("accepted", true));
    let (code, seen) = login(bus.address(), mfa("pam_permit.so", ""))
        .answers(&[PHRASE])
        .run();
    assert_eq!((code, seen), (PAM_SUCCESS, vec![echo_on(PROMPT)]));
    drop(mock);

    let mock = MockDaemon::start(&bus, verify_script("rejected", false));
    let (code, _) = login(bus.address(), mfa("pam_permit.so", ""))
        .answers(&["impostor"])
        .run();
    assert_eq!(code, PAM_MAXTRIES);
    drop(mock);

    // A wrong password never reaches the daemon.
    let mock = MockDaemon::start(&bus, json!([]));
    assert_eq!(
        login(bus.address(), mfa("pam_deny.so", "")).run(),
        (PAM_AUTH_ERR, vec![])
    );
    assert!(mock.calls().is_empty());
    drop(mock);

    // Daemon down: the password alone decides, unless the site is fail-closed.
    let (code, seen) = login(bus.address(), mfa("pam_permit.so", "")).run();
    assert_eq!((code, seen), (PAM_SUCCESS, vec![error(FETCH_FAILED)]));
    let (code, _) = login(bus.address(), mfa("pam_permit.so", "fail=closed")).run();
    assert_eq!(code, PAM_AUTH_ERR);
}

#[test]
fn passwordless_uses_the_pattern_and_falls_back_to_the_password() {
    let bus = PrivateBus::start();
    let passwordless = |password| stack("behavior-passwordless", password, "");

    // The pattern alone logs in, even where the password would be refused.
    let _mock = MockDaemon::start(&bus, verify_script("accepted", true));
    let (code, _) = login(bus.address(), passwordless("pam_deny.so"))
        .answers(&[PHRASE])
        .run();
    assert_eq!(code, PAM_SUCCESS);
    drop(_mock);

    // A rejected pattern never logs in by itself: the password decides.
    let _mock = MockDaemon::start(&bus, verify_script("rejected", true));
    let (code, _) = login(bus.address(), passwordless("pam_deny.so"))
        .answers(&["impostor"])
        .run();
    assert_eq!(code, PAM_AUTH_ERR);
    drop(_mock);
    let _mock = MockDaemon::start(&bus, verify_script("rejected", false));
    let (code, _) = login(bus.address(), passwordless("pam_permit.so"))
        .answers(&["impostor"])
        .run();
    assert_eq!(code, PAM_SUCCESS);
    drop(_mock);

    // Daemon down, fail-closed or not: never success without the password.
    for extra in ["", "fail=closed"] {
        let stack = stack("behavior-passwordless", "pam_deny.so", extra);
        assert_eq!(
            login(bus.address(), stack).run(),
            (PAM_AUTH_ERR, vec![error(FETCH_FAILED)])
        );
    }
}
