//! In a setuid program (`su`, `sudo`) the environment belongs to the calling user: the module
//! must not let `DBUS_SYSTEM_BUS_ADDRESS` point it at a bus where a fake daemon says yes.
//!
//! This test binary copies itself, makes the copy setuid root and runs it as `nobody`; the
//! copy runs one login with `DBUS_SYSTEM_BUS_ADDRESS` naming a private bus with a mock
//! daemon. Without the setuid bit (control) the mock is called; with it, it is not.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pam_harness;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use behavior_tests::{open_tempdir, PrivateBus};
use pam_harness::*;
use serde_json::json;

/// Set in the copy's environment: the bus to point the module at.
const CHILD_BUS: &str = "BEHAVIOR_TEST_SETUID_BUS";

fn run_copy(mode: u32, bus: &PrivateBus) -> String {
    let dir = open_tempdir();
    let exe = dir.path().join("pam_setuid_copy");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(mode)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&exe)
        .args([
            "--exact",
            "one_login_in_the_copy",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_BUS, bus.address())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    all
}

#[test]
fn a_setuid_caller_cannot_point_the_module_at_another_bus() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("skipped: making a setuid-root copy needs root");
        return;
    }
    let bus = PrivateBus::start();
    let mock = MockDaemon::start(&bus, json!([]));

    let control = run_copy(0o755, &bus);
    assert!(control.contains("secure=false"), "{control}");
    assert_eq!(mock.calls(), vec!["Begin alice"], "{control}");

    let setuid = run_copy(0o4755, &bus);
    assert!(setuid.contains("secure=true"), "{setuid}");
    assert_eq!(mock.calls(), vec!["Begin alice"], "{setuid}");
}

/// The copy's side; does nothing when run directly.
#[test]
#[ignore = "run by a_setuid_caller_cannot_point_the_module_at_another_bus"]
fn one_login_in_the_copy() {
    let Ok(bus) = std::env::var(CHILD_BUS) else {
        return;
    };
    // SAFETY: getauxval has no preconditions.
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    println!("secure={secure}");
    let (code, seen) = Login::new("timeout=2", &bus).run();
    if secure {
        // The module goes to the real system bus: no daemon there, or this host's own
        // behaviord (it does not know alice). Never the mock, which the parent checks.
        assert_ne!(code, PAM_SUCCESS, "{seen:?}");
        return;
    }
    // The mock refuses: no success.
    assert_eq!(code, PAM_AUTHINFO_UNAVAIL);
    assert_eq!(
        seen,
        vec![error("Unauthorized. Failed to fetch typing phrase.")]
    );
}
