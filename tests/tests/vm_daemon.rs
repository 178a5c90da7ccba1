//! The whole daemon capturing real kernel key events: boots the test VM (`tests/vm/run.sh`:
//! Debian's kernel under qemu, uinput available) and runs `login_probe` inside, which starts
//! a private bus and the built `behaviord` (reading `/dev/input`, no `--test-input`) and logs
//! in through the built PAM module while typing on uinput keyboards. This fails, never
//! skips, when the VM cannot run: the reason is in the message.

use behavior_tests::{build_dir, built, workspace_root};
use std::process::Command;
use std::time::Instant;

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
    let script = workspace_root().join("tests/vm/run.sh");
    // The guest starts with an empty environment: it learns where the build is from these.
    let mut cmd = Command::new(&script);
    cmd.arg("/usr/bin/env");
    for var in [
        "CARGO_TARGET_DIR",
        "BEHAVIOR_TEST_PROFILE",
        "BEHAVIOR_PAM_MODULE",
    ] {
        if let Ok(value) = std::env::var(var) {
            cmd.arg(format!("{var}={value}"));
        }
    }
    cmd.arg(env!("CARGO_BIN_EXE_login_probe"));
    let started = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let results: Vec<&str> = stdout.lines().filter(|l| l.starts_with("VMTEST")).collect();
    let context = format!(
        "{} exited with {} (build in {})\n--- probe results:\n{}\n--- stderr:\n{stderr}\n--- full output:\n{stdout}",
        script.display(),
        out.status,
        build_dir().display(),
        results.join("\n")
    );
    for case in CASES {
        assert!(
            results.contains(&format!("VMTEST case {case} ok").as_str()),
            "case {case} did not pass\n{context}"
        );
    }
    assert!(results.contains(&"VMTEST ALL OK"), "{context}");
    assert!(out.status.success(), "{context}");
    // The figures, for whoever reads the test output (`--nocapture`).
    for line in results.iter().filter(|l| l.starts_with("VMTEST figure")) {
        println!("{line}");
    }
    println!(
        "VMTEST figure vm_wall_s={:.1} (boot, probe, power off)",
        wall.as_secs_f64()
    );
}
