//! The built pam_behavior.so exports what libpam looks up and stays small in-process: no
//! database, evdev, systemd or async runtime linked or compiled in.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use behavior_tests::{built, workspace_root};

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn module() -> String {
    built("libpam_behavior.so").display().to_string()
}

#[test]
fn exports_the_pam_entry_points() {
    let symbols = run("nm", &["-D", "--defined-only", &module()]);
    for name in [
        "pam_sm_authenticate",
        "pam_sm_setcred",
        "pam_sm_chauthtok",
        "pam_sm_acct_mgmt",
        "pam_sm_open_session",
        "pam_sm_close_session",
    ] {
        assert!(
            symbols.lines().any(|l| l.ends_with(&format!(" T {name}"))),
            "{name} is not exported:\n{symbols}"
        );
    }
}

#[test]
fn links_only_libc_libpam_and_the_unwinder() {
    let dynamic = run("readelf", &["-d", &module()]);
    let needed: Vec<&str> = dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    let allowed = [
        "libpam.so.0",
        "libc.so.6",
        "libgcc_s.so.1",
        "libm.so.6",
        "ld-linux-x86-64.so.2",
    ];
    for lib in &needed {
        assert!(
            allowed.contains(lib),
            "unexpected library {lib} in {needed:?}"
        );
    }
    assert!(needed.contains(&"libpam.so.0"), "{needed:?}");
    // zbus' helper threads outlive pam_end, so libpam's dlclose must not unmap the module.
    assert!(
        dynamic
            .lines()
            .any(|l| l.contains("FLAGS_1") && l.contains("NODELETE")),
        "not marked NODELETE:\n{dynamic}"
    );
}

#[test]
fn compiles_in_no_async_runtime_database_or_evdev() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = run(
        &cargo,
        &[
            "tree",
            "--offline",
            "-p",
            "pam_behavior",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ],
    );
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split(' ').next()).collect();
    assert!(crates.contains(&"zbus"), "unexpected tree:\n{tree}");
    for forbidden in [
        "tokio",
        "rusqlite",
        "libsqlite3-sys",
        "evdev",
        "libsystemd",
        "argon2",
    ] {
        assert!(
            !crates.contains(&forbidden),
            "{forbidden} is in the module:\n{tree}"
        );
    }
}
