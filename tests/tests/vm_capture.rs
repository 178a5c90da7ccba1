//! The real evdev capture path on real kernel input devices: boots the test VM
//! (`tests/vm/run.sh`: Debian's kernel under qemu, uinput available) and runs `capture_probe`
//! inside, which drives `behaviord::input` with uinput keyboards. This fails, never skips,
//! when the VM cannot run: the reason is in the message.

use behavior_tests::run_vm_probe;

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
    run_vm_probe(&[env!("CARGO_BIN_EXE_capture_probe").to_string()], CASES);
}
