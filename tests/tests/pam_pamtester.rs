//! `pamtester` (a real PAM application) runs the module through pam_wrapper with a one-line
//! service file: the manual check documented for sysadmins, automated.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

mod pam_harness;

use behavior_tests::{built, PrivateBus};
use pam_harness::MockDaemon;
use serde_json::json;

const PHRASE: &str = "correct horse battery";

fn pamtester(bus: &str, args: &str, input: &str) -> Output {
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
        .args(["-v", "behavior-test", "alice", "authenticate"])
        .env("LD_PRELOAD", "libpam_wrapper.so")
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", dir.path())
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
        all.contains("Type the phrase: correct horse battery"),
        "{all}"
    );
    assert!(all.contains("PIN: "), "{all}");
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
