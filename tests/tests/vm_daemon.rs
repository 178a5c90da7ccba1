//! The whole daemon capturing real kernel key events: boots the test VM (`tests/vm/run.sh`:
//! Debian's kernel under qemu, uinput available) and runs `login_probe` inside, which starts
//! a private bus and the built `behaviord` (reading `/dev/input`, no `--test-input`) and logs
//! in through the built PAM module while typing on uinput keyboards. This fails, never
//! skips, when the VM cannot run: the reason is in the message.

use behavior_tests::{built, run_vm_probe};

/// Cases the probe must report as passed.
const CASES: &[&str] = &[
    "enroll",
    "timings",
    "hotplug-add",
    "verify",
    "hotplug-remove",
    "virtual-ignored",
];

#[test]
fn daemon_captures_real_kernel_key_events_through_pam_logins() {
    // What the probe runs inside the VM, checked here for a clear message.
    built("behaviord");
    if std::env::var_os("BEHAVIOR_PAM_MODULE").is_none() {
        built("libpam_behavior.so");
    }
    // The guest starts with an empty environment: it learns where the build is from these.
    let mut args = vec!["/usr/bin/env".to_string()];
    for var in [
        "CARGO_TARGET_DIR",
        "BEHAVIOR_TEST_PROFILE",
        "BEHAVIOR_PAM_MODULE",
    ] {
        if let Ok(value) = std::env::var(var) {
            args.push(format!("{var}={value}"));
        }
    }
    args.push(env!("CARGO_BIN_EXE_login_probe").to_string());
    run_vm_probe(&args, CASES);
}
