//! `pamtester` (a real PAM application) runs the module through pam_wrapper with a one-line
//! service file: the manual check documented for sysadmins, automated.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

mod pam_harness;

use behavior_tests::{built, fixture_subject, Daemon, PrivateBus, FIXTURE_PHRASE};
use pam_harness::MockDaemon;
use serde_json::json;

const PHRASE: &str = "correct horse battery";

fn pamtester(bus: &str, args: &str, input: &str) -> Output {
    pamtester_as(bus, "alice", args, input)
}

/// `pamtester -v -I tty=tty1 behavior-test USER authenticate`, the module on a one-line service file,
/// `input` on its standard input.
fn pamtester_as(bus: &str, user: &str, args: &str, input: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("behavior-test"),
        format!(
            "auth required {} {args}\n",
            built("libpam_behavior.so").display()
        ),
    )
    .unwrap();
    let mut child = Command::new("pamtester")
        // On a virtual console: without logind, the daemon takes nothing else for local.
        .args([
            "-v",
            "-I",
            "tty=tty1",
            "behavior-test",
            user,
            "authenticate",
        ])
        .env("LD_PRELOAD", "libpam_wrapper.so")
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", dir.path())
        // pam_wrapper prints what modules send to pam_syslog, as `SYSLOG(priority): text`.
        .env("PAM_WRAPPER_DEBUGLEVEL", "2")
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
        .env_remove("XDG_SEAT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pamtester and libpam-wrapper must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn pamtester_authenticates_with_the_pattern_and_pin() {
    let bus = PrivateBus::start();
    let _mock = MockDaemon::start(
        &bus,
        json!([
            {"method": "Begin", "return": ["h1", "behavior+pin", "verify", PHRASE, 3, 3, true, false, 4, false, 120]},
            {"method": "OpenCapture", "return": null},
            {"method": "SubmitVerification", "return": ["accepted", 3, ""]},
            {"method": "VerifyPin", "return": ["accepted", 3, ""]},
            {"method": "Finish", "return": [true, ["behavior", "pin"]]},
        ]),
    );
    let out = pamtester(bus.address(), "", &format!("{PHRASE}\n4821\n"));
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("Type the phrase: correct horse battery\nPhrase: "),
        "{all}"
    );
    assert!(all.contains("PIN: "), "{all}");
    assert!(all.contains("successfully authenticated"), "{all}");
}

#[test]
fn pamtester_with_the_real_daemon_on_a_pin_journey() {
    // No keys can be injected while pamtester reads its answers, so this service gets the
    // `pin` journey from a policy rule.
    let bus = PrivateBus::start();
    let config = format!(
        r#"
phrase = "{FIXTURE_PHRASE}"
[enrollment]
behavior = true
pin = true
[pin]
length = 6
argon2_memory_kib = 256
argon2_iterations = 1

[[rule]]
services = ["behavior-test"]
journey = "pin"
"#
    );
    let daemon = Daemon::start(&bus, &config);
    daemon.enroll("nobody", &fixture_subject("subject2")[..5], Some("482913"));
    let out = pamtester_as(daemon.bus_address(), "nobody", "", "111111\n482913\n");
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("PIN: "), "{all}");
    assert!(all.contains("Incorrect PIN. Please try again."), "{all}");
    assert!(!all.contains("Type the phrase"), "{all}");
    assert!(all.contains("successfully authenticated"), "{all}");
}

#[test]
fn pamtester_reports_an_absent_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let bus = format!("unix:path={}", dir.path().join("none").display());
    let out = pamtester(&bus, "", "");
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("Unauthorized. Failed to fetch typing phrase."),
        "{all}"
    );
    assert!(
        all.contains("Authentication service cannot retrieve authentication info"),
        "{all}"
    );
}

/// The module's own lines in pam_wrapper's output, at one syslog priority.
fn syslog_lines(all: &str, priority: u8) -> Vec<String> {
    let tag = format!("SYSLOG({priority}): ");
    all.lines()
        .filter_map(|l| l.split_once(&tag).map(|(_, text)| text.to_string()))
        .filter(|t| !t.starts_with("_pam"))
        .collect()
}

#[test]
fn debug_logs_each_step_to_syslog_but_never_typed_text_or_pins() {
    let bus = PrivateBus::start();
    let script = json!([
        {"method": "Begin", "return": ["h1", "behavior+pin", "verify", PHRASE, 3, 3, true, false, 4, false, 120]},
        {"method": "OpenCapture", "return": null},
        {"method": "SubmitVerification", "return": ["rejected", 2, ""]},
        {"method": "OpenCapture", "return": null},
        {"method": "SubmitVerification", "return": ["accepted", 2, ""]},
        {"method": "VerifyPin", "return": ["rejected", 2, ""]},
        {"method": "VerifyPin", "return": ["accepted", 2, ""]},
        {"method": "Finish", "return": [true, ["behavior", "pin"]]},
    ]);
    let typed = "correct horse batery\ncorrect horse battery\n9713\n4821\n";

    let mock = MockDaemon::start(&bus, script.clone());
    let out = pamtester(bus.address(), "debug max_tries=zero", typed);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert_eq!(
        syslog_lines(&all, 4),
        vec!["argument: max_tries=\"zero\" is not a whole number; ignored"]
    );
    let debug = syslog_lines(&all, 7);
    assert_eq!(
        debug,
        vec![
            "typing rejected (1 of 3 tries)",
            "PIN rejected (1 of 3 tries)",
            "user \"alice\" journey \"behavior+pin\": Success",
        ],
        "{all}"
    );
    // The typo, the wrong PIN and the PIN appear in no syslog line at any priority.
    let logged: Vec<&str> = all.lines().filter(|l| l.contains("SYSLOG(")).collect();
    for secret in ["batery", "9713", "4821"] {
        assert!(
            !logged.iter().any(|l| l.contains(secret)),
            "{secret} was logged: {logged:?}"
        );
    }
    drop(mock);

    // Without `debug`: no step is logged.
    let _mock = MockDaemon::start(&bus, script);
    let out = pamtester(bus.address(), "", typed);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(syslog_lines(&all, 7).is_empty(), "{all}");
}
