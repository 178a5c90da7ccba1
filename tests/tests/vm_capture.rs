//! The real evdev capture path on real kernel input devices: boots the test VM
//! (`tests/vm/run.sh`: Debian's kernel under qemu, uinput available) and runs `capture_probe`
//! inside, which drives `behaviord::input` with uinput keyboards. This fails, never skips,
//! when the VM cannot run: the reason is in the message.

use behavior_tests::workspace_root;
use std::process::Command;

/// Cases the probe must report as passed.
const CASES: &[&str] = &[
    "uinput-ignored",
    "hotplug-add",
    "timings",
    "two-keyboards",
    "corrections",
    "sync",
    "hotplug-remove",
    "syn-dropped",
];

#[test]
fn capture_on_real_kernel_input_devices() {
    let script = workspace_root().join("tests/vm/run.sh");
    let out = Command::new(&script)
        .arg(env!("CARGO_BIN_EXE_capture_probe"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let results: Vec<&str> = stdout.lines().filter(|l| l.starts_with("VMTEST")).collect();
    let context = format!(
        "{} exited with {}\n--- probe results:\n{}\n--- stderr:\n{stderr}\n--- full output:\n{stdout}",
        script.display(),
        out.status,
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
}
