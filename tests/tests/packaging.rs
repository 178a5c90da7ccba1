//! Packaging: the Debian package's contents and metadata (and lintian), the systemd unit, the
//! man pages, the README's pam.d lines, `make install`/`uninstall`, `scripts/try.sh`; then,
//! as root, install/upgrade/remove/purge and `scripts/install.sh` in a throwaway copy of this
//! machine (`packaging/test/throwaway-root.sh`), and the same under a real systemd booted in
//! such a copy (`packaging/test/systemd-root.sh`: the hardened unit, its sandbox, bus
//! activation, pamtester through an installed service file). Nothing here installs anything
//! on the host, and the throwaway roots start without behaviord whether or not the host has
//! it installed or running (`package_free` in packaging/test/overlay.sh).
//!
//! Needs `cargo build --workspace` first (scripts/test.sh does it): the package is built from
//! the debug binaries.
//!
//! Test-only code: panics here are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use behavior_tests::{build_dir, built, is_root, output_within, workspace_root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Deadlines for the commands below, so that a hung one is killed and named: a package
/// build or a lint takes seconds; a throwaway root with systemd booted in it, or
/// install.sh's build, minutes on a loaded 2-core machine.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);
const ROOT_LIMIT: Duration = Duration::from_secs(900);

const MAN_PAGES: [&str; 4] = [
    "behaviorctl.1",
    "behaviord.toml.5",
    "behaviord.8",
    "pam_behavior.8",
];

fn run(cmd: &mut Command) -> Output {
    let what = format!("{cmd:?}");
    let out = output_within(cmd, COMMAND_LIMIT, &what);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn multiarch() -> String {
    stdout(Command::new("dpkg-architecture").arg("-qDEB_HOST_MULTIARCH"))
        .trim()
        .to_string()
}

/// A scratch directory under `target/`, so that it is visible inside the throwaway root
/// (which gets a fresh /run but keeps the rest of the file system, copy-on-write).
fn scratch_dir() -> tempfile::TempDir {
    let parent = build_dir().parent().unwrap().join("packaging-test");
    std::fs::create_dir_all(&parent).unwrap();
    tempfile::Builder::new()
        .prefix("pkg")
        .tempdir_in(parent)
        .unwrap()
}

/// Builds the package from the debug binaries into `outdir`; returns the .deb's path.
fn build_deb(outdir: &Path, version: Option<&str>) -> PathBuf {
    built("behaviord");
    built("behaviorctl");
    built("libpam_behavior.so");
    let mut cmd = Command::new(workspace_root().join("packaging/deb/build-deb.sh"));
    // gzip -1: the release's xz takes seconds per build on debug binaries.
    cmd.env("PROFILE", "debug")
        .env("OUTDIR", outdir)
        .env("COMPRESS", "gzip");
    if let Some(v) = version {
        cmd.env("VERSION", v);
    }
    let out = stdout(&mut cmd);
    let deb = PathBuf::from(out.lines().last().unwrap());
    assert!(deb.is_file(), "build-deb.sh printed {deb:?}, not a file");
    deb
}

/// The package at the workspace version and the same with a higher version, for upgrades.
fn old_and_new_debs(dir: &Path) -> (PathBuf, PathBuf) {
    let old = build_deb(&dir.join("old"), None);
    let version = stdout(Command::new("dpkg-deb").arg("-f").arg(&old).arg("Version"));
    let new = build_deb(
        &dir.join("new"),
        Some(&format!("{}+upgradetest1", version.trim())),
    );
    (old, new)
}

/// The files the package and `make install` must install, with their modes, relative to /.
fn expected_files() -> BTreeMap<String, &'static str> {
    let root = workspace_root();
    let ma = multiarch();
    let mut files: BTreeMap<String, &'static str> = [
        ("usr/sbin/behaviord", "-rwxr-xr-x"),
        ("usr/bin/behaviorctl", "-rwxr-xr-x"),
        ("usr/lib/behaviord/daemon.sh", "-rwxr-xr-x"),
        (
            format!("lib/{ma}/security/pam_behavior.so").as_str(),
            "-rw-r--r--",
        ),
        (
            "usr/share/dbus-1/system.d/org.behaviord.Behavior1.conf",
            "-rw-r--r--",
        ),
        (
            "usr/share/dbus-1/system-services/org.behaviord.Behavior1.service",
            "-rw-r--r--",
        ),
        ("lib/systemd/system/behaviord.service", "-rw-r--r--"),
        ("usr/share/pam-configs/behavior", "-rw-r--r--"),
        ("usr/share/man/man1/behaviorctl.1.gz", "-rw-r--r--"),
        ("usr/share/man/man5/behaviord.toml.5.gz", "-rw-r--r--"),
        ("usr/share/man/man8/behaviord.8.gz", "-rw-r--r--"),
        ("usr/share/man/man8/pam_behavior.8.gz", "-rw-r--r--"),
        ("usr/share/doc/behaviord/README.md", "-rw-r--r--"),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m))
    .collect();
    if root.join("etc/behaviord.toml").is_file() {
        files.insert("etc/behaviord/behaviord.toml".into(), "-rw-r--r--");
    }
    if let Ok(entries) = std::fs::read_dir(root.join("etc/pam.d")) {
        for e in entries {
            let name = e.unwrap().file_name().into_string().unwrap();
            files.insert(
                format!("usr/share/doc/behaviord/examples/pam.d/{name}"),
                "-rw-r--r--",
            );
        }
    }
    files
}

/// `dpkg-deb -c`: regular files as path (without "./") -> (mode, owner).
fn deb_files(deb: &Path) -> BTreeMap<String, (String, String)> {
    stdout(Command::new("dpkg-deb").arg("-c").arg(deb))
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(
                f[0].starts_with('-'),
                "not a regular file in the package: {l}"
            );
            let path = f[5].trim_start_matches("./").to_string();
            (path, (f[0].to_string(), f[1].to_string()))
        })
        .collect()
}

fn exported_pam_symbols(so: &Path) -> Vec<String> {
    stdout(Command::new("nm").args(["-D", "--defined-only"]).arg(so))
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| s.starts_with("pam_sm_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn deb_has_the_expected_files_metadata_and_scripts() {
    let dir = scratch_dir();
    let deb = build_deb(dir.path(), None);

    // Every file the package should hold, nothing else, owned by root with the right mode.
    let files = deb_files(&deb);
    let expected = expected_files();
    let names: Vec<&String> = files.keys().collect();
    let mut expected_names: Vec<String> = expected.keys().cloned().collect();
    expected_names.push("usr/share/doc/behaviord/copyright".into());
    expected_names.push("usr/share/doc/behaviord/changelog.gz".into());
    expected_names.sort();
    assert_eq!(
        names,
        expected_names.iter().collect::<Vec<_>>(),
        "package contents"
    );
    for (path, (mode, owner)) in &files {
        assert_eq!(owner, "root/root", "{path} owner");
        let want_mode = expected.get(path).copied().unwrap_or("-rw-r--r--");
        assert_eq!(mode, want_mode, "{path} mode");
    }

    // Metadata.
    let field = |name: &str| {
        stdout(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name))
            .trim()
            .to_string()
    };
    assert_eq!(field("Package"), "behaviord");
    let cargo_toml = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains(&format!("version = \"{}\"", field("Version"))),
        "package version {} is not the workspace version",
        field("Version")
    );
    assert_eq!(
        field("Architecture"),
        stdout(Command::new("dpkg-architecture").arg("-qDEB_HOST_ARCH")).trim()
    );
    let depends = field("Depends");
    for dep in ["libc6", "libpam-runtime", "dbus-system-bus"] {
        assert!(depends.contains(dep), "Depends lacks {dep}: {depends}");
    }
    assert!(field("Installed-Size").parse::<u64>().unwrap() > 0);
    assert!(!field("Maintainer").is_empty() && !field("Description").is_empty());

    // The Debian changelog's newest entry is this version.
    let changelog_version = stdout(
        Command::new("dpkg-parsechangelog")
            .args(["-S", "Version", "-l"])
            .arg(workspace_root().join("packaging/deb/changelog")),
    );
    assert_eq!(
        changelog_version.trim(),
        field("Version"),
        "packaging/deb/changelog needs an entry for the workspace version"
    );

    // Debian policy, as lintian sees it: no errors, no warnings.
    let out = output_within(
        Command::new("lintian")
            .args(["--tag-display-limit", "0"])
            .arg(&deb),
        COMMAND_LIMIT,
        "lintian (scripts/deps.sh --test installs it)",
    );
    let report = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(bad.is_empty(), "lintian:\n{}", bad.join("\n"));

    // Control area: executable maintainer scripts that pass `sh -n`; conffiles for /etc.
    let ctrl = dir.path().join("ctrl");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&ctrl));
    for script in ["postinst", "prerm", "postrm"] {
        let path = ctrl.join(script);
        let mode = std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o755, "{script} mode");
        run(Command::new("sh").arg("-n").arg(&path));
    }
    let conffiles = std::fs::read_to_string(ctrl.join("conffiles")).unwrap_or_default();
    let etc: Vec<&String> = files.keys().filter(|p| p.starts_with("etc/")).collect();
    assert_eq!(
        conffiles.lines().collect::<Vec<_>>(),
        etc.iter().map(|p| format!("/{p}")).collect::<Vec<_>>(),
        "every file under /etc is a conffile"
    );

    // Unpacked: checksums match, the profile is off by default, paths are the installed ones,
    // and stripping kept the PAM entry points.
    let tree = dir.path().join("tree");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree));
    run(Command::new("md5sum")
        .args(["--quiet", "-c"])
        .arg(ctrl.join("md5sums"))
        .current_dir(&tree));
    let profile = std::fs::read_to_string(tree.join("usr/share/pam-configs/behavior")).unwrap();
    assert!(profile.lines().any(|l| l == "Default: no"), "{profile}");
    let unit = std::fs::read_to_string(tree.join("lib/systemd/system/behaviord.service")).unwrap();
    assert!(unit.lines().any(|l| l == "ExecStart=/usr/sbin/behaviord"));
    assert!(
        !unit.contains("@SBINDIR@"),
        "unsubstituted placeholder in the unit"
    );
    let so = tree.join(format!("lib/{}/security/pam_behavior.so", multiarch()));
    assert_eq!(
        exported_pam_symbols(&so),
        exported_pam_symbols(&built("libpam_behavior.so")),
        "stripping changed the PAM module's exported pam_sm_* symbols"
    );
}

/// `Key=value` lines of the unit's [Service] section.
fn unit_settings(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .skip_while(|l| l.trim() != "[Service]")
        .take_while(|l| l.trim() != "[Install]")
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn systemd_unit_is_hardened_and_verifies() {
    let template = workspace_root().join("packaging/systemd/behaviord.service.in");
    let text = std::fs::read_to_string(&template).unwrap();
    let settings = unit_settings(&text);
    for (key, value) in [
        ("Type", "dbus"),
        ("BusName", "org.behaviord.Behavior1"),
        ("ProtectSystem", "strict"),
        ("StateDirectory", "behaviord"),
        ("StateDirectoryMode", "0700"),
        ("PrivateNetwork", "yes"),
        ("NoNewPrivileges", "yes"),
        ("DevicePolicy", "closed"),
        ("DeviceAllow", "char-input r"),
        ("ProtectHome", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
    ] {
        assert!(
            settings.iter().any(|(k, v)| k == key && v == value),
            "{} lacks {key}={value}",
            template.display()
        );
    }
    // Only input devices, and only for reading.
    let allowed: Vec<&String> = settings
        .iter()
        .filter(|(k, _)| k == "DeviceAllow")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(allowed, ["char-input r"]);

    if !have("systemd-analyze") {
        eprintln!("systemd-analyze is not installed: unit syntax not verified here");
        return;
    }
    // Verify the unit as installed, with ExecStart pointing at the built daemon (verify checks
    // that the binary exists). Documentation= pages are checked in the throwaway root, where
    // they are installed.
    let dir = scratch_dir();
    let unit = dir.path().join("behaviord.service");
    std::fs::write(
        &unit,
        text.replace("@SBINDIR@", build_dir().to_str().unwrap()),
    )
    .unwrap();
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit));
    assert!(
        out.stderr.is_empty(),
        "systemd-analyze verify warns:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // systemd's own exposure score for the sandboxing (0 best, 10 worst).
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit));
    let text = String::from_utf8_lossy(&out.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split("behaviord.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(exposure <= 1.5, "exposure {exposure} (expected <= 1.5)");
}

#[test]
fn man_pages_render_without_warnings() {
    for page in MAN_PAGES {
        let path = workspace_root().join("packaging/man").join(page);
        let out = run(Command::new("groff")
            .args(["-man", "-ww", "-z", "-t"])
            .arg(&path));
        assert!(
            out.stderr.is_empty(),
            "groff warns about {page}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if have("man") {
            let out = run(Command::new("man")
                .args(["--warnings", "-E", "UTF-8", "-l"])
                .arg(&path)
                .env("MANWIDTH", "80")
                .env("LC_ALL", "C.UTF-8"));
            assert!(
                out.stderr.is_empty(),
                "man --warnings about {page}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // The NAME line must parse for whatis/apropos.
            let name = stdout(Command::new("lexgrog").arg(&path));
            let stem = page.rsplit_once('.').unwrap().0;
            assert!(name.contains(&format!("\"{stem} - ")), "lexgrog: {name}");
        }
    }
}

#[test]
fn make_install_and_uninstall_honour_destdir_and_keep_user_data() {
    let dir = scratch_dir();
    let dest = dir.path().join("root");
    run(Command::new("make")
        .args(["--no-print-directory", "install", "PROFILE=debug"])
        .arg(format!("DESTDIR={}", dest.display()))
        .current_dir(workspace_root()));
    for (path, mode) in expected_files() {
        let meta = std::fs::metadata(dest.join(&path))
            .unwrap_or_else(|e| panic!("make install did not install {path}: {e}"));
        let bits = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        let want = if mode == "-rwxr-xr-x" { 0o755 } else { 0o644 };
        assert_eq!(bits, want, "{path} mode {bits:o}");
    }

    let data = dest.join("var/lib/behaviord/behaviord.db");
    std::fs::create_dir_all(data.parent().unwrap()).unwrap();
    std::fs::write(&data, "user data").unwrap();
    run(Command::new("make")
        .args(["--no-print-directory", "uninstall"])
        .arg(format!("DESTDIR={}", dest.display()))
        .current_dir(workspace_root()));
    let left = stdout(Command::new("find").arg(&dest).args(["-type", "f"]));
    let mut left: Vec<&str> = left
        .lines()
        .map(|l| l.strip_prefix(dest.to_str().unwrap()).unwrap())
        .collect();
    left.sort();
    let mut want = vec!["/var/lib/behaviord/behaviord.db"];
    if workspace_root().join("etc/behaviord.toml").is_file() {
        want.push("/etc/behaviord/behaviord.toml");
        want.sort();
    }
    assert_eq!(
        left, want,
        "make uninstall should leave only user data and policy"
    );
}

/// What `scripts/install.sh` needs visible inside a test root: this checkout and the Rust
/// toolchain.
fn checkout_and_toolchain() -> Vec<PathBuf> {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap());
    [workspace_root(), home.join(".cargo"), home.join(".rustup")]
        .into_iter()
        .filter(|d| d.is_dir())
        .collect()
}

/// Runs `command` under systemd booted in a throwaway root (packaging/test/systemd-root.sh),
/// with `results` mounted at /results.
fn systemd_root(dirs: &[PathBuf], results: &Path, command: &[&str]) -> Output {
    let mut cmd = Command::new(workspace_root().join("packaging/test/systemd-root.sh"));
    for d in dirs {
        cmd.arg("--dir").arg(d);
    }
    cmd.arg(results).args(command);
    output_within(
        &mut cmd,
        ROOT_LIMIT,
        &format!("systemd-root.sh {command:?}"),
    )
}

fn throwaway_root(dirs: &[PathBuf], command: &[&str]) -> Output {
    let mut cmd = Command::new(workspace_root().join("packaging/test/throwaway-root.sh"));
    for d in dirs {
        cmd.arg("--dir").arg(d);
    }
    cmd.arg("--").args(command);
    output_within(
        &mut cmd,
        ROOT_LIMIT,
        &format!("throwaway-root.sh {command:?}"),
    )
}

#[test]
fn deb_installs_upgrades_removes_and_purges_in_a_throwaway_root() {
    if !is_root() {
        eprintln!(
            "not root: dpkg install/upgrade/remove/purge not tested (needs a mount namespace)"
        );
        return;
    }
    let dir = scratch_dir();
    let (old, new) = old_and_new_debs(dir.path());
    let root = workspace_root();
    let script = root.join("packaging/test/deb-lifecycle.sh");
    let out = throwaway_root(
        &[root.clone(), dir.path().to_path_buf()],
        &[
            script.to_str().unwrap(),
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ],
    );
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "lifecycle failed:\n{log}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().last(),
        Some("LIFECYCLE OK"),
        "{log}"
    );
}

#[test]
fn install_script_installs_without_systemd_and_says_how_to_start() {
    if !is_root() {
        eprintln!("not root: scripts/install.sh not tested (needs a mount namespace)");
        return;
    }
    let root = workspace_root();
    // Then the README's way to start, restart and stop by hand, over the stale pid file and
    // socket a dead system bus leaves behind; the bus it started is stopped at the end, so
    // nothing outlives the throwaway root.
    let script = format!(
        "cd '{}' && PROFILE=debug scripts/install.sh && dpkg-query -W -f='${{db:Status-Abbrev}}\\n' behaviord && test -x /usr/sbin/behaviord \
         && [ \"$(stat -c %a /var/lib/behaviord)\" = 700 ] \
         && mkdir -p /run/dbus && echo 999999 > /run/dbus/pid \
         && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/run/dbus/system_bus_socket\")' \
         && /usr/lib/behaviord/daemon.sh start && behaviorctl status >/dev/null \
         && /usr/lib/behaviord/daemon.sh start && /usr/lib/behaviord/daemon.sh restart \
         && behaviorctl status >/dev/null && /usr/lib/behaviord/daemon.sh stop \
         && ! /usr/lib/behaviord/daemon.sh status && kill \"$(cat /run/dbus/pid)\"",
        root.display()
    );
    let out = throwaway_root(&checkout_and_toolchain(), &["sh", "-c", &script]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "install.sh failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stdout.trim(), "ii", "package status after install.sh");
    assert!(
        stderr.contains("systemd is not running")
            && stderr.contains("/usr/lib/behaviord/daemon.sh start"),
        "install.sh does not say how to start the daemon by hand:\n{stderr}"
    );
    for said in [
        "behaviord: running (pid",
        "behaviord: already running",
        "behaviord: stopped",
        "behaviord: not running",
    ] {
        assert!(
            stderr.contains(said),
            "daemon.sh did not say {said:?}:\n{stderr}"
        );
    }
}

/// The pam.d lines of the README block after `marker`.
fn readme_block(readme: &str, marker: &str) -> Vec<String> {
    let after = &readme[readme
        .find(marker)
        .unwrap_or_else(|| panic!("README lacks {marker:?}"))..];
    let block = after.split("```").nth(1).unwrap();
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs the README's pam.d lines through real libpam (pamtester under pam_wrapper), with
/// pam_debug standing in for pam_behavior.so (returning `code`) and pam_permit/pam_deny for
/// the password of `@include common-auth`. True when authentication succeeds.
fn stack_accepts(lines: &[String], code: &str, password_ok: bool, dir: &Path) -> bool {
    let password = if password_ok {
        "auth required pam_permit.so"
    } else {
        "auth required pam_deny.so"
    };
    let service: String = lines
        .iter()
        .map(|l| {
            if l == "@include common-auth" {
                password.to_string()
            } else {
                assert!(l.contains("pam_behavior.so"), "unexpected line {l:?}");
                l.replace("pam_behavior.so", &format!("pam_debug.so auth={code}"))
            }
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(dir.join("behavior-doc"), service).unwrap();
    // pam_wrapper wants the fallback service too ("no default config other" otherwise).
    std::fs::write(dir.join("other"), "auth required pam_deny.so\n").unwrap();
    Command::new("pamtester")
        .args(["behavior-doc", "alice", "authenticate"])
        .env("LD_PRELOAD", "libpam_wrapper.so")
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("pamtester (Debian pamtester) and pam_wrapper (libpam-wrapper) are needed")
        .status
        .success()
}

#[test]
fn readme_pam_lines_behave_as_documented() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let mfa = readme_block(&readme, "**Second factor (MFA):**");
    let passwordless = readme_block(&readme, "**Passwordless:**");
    let clean_room = readme_block(&readme, "clean room), require it");
    let dir = tempfile::tempdir().unwrap();
    // pam_behavior's outcomes: success; ignore (journey "none", skipped enrollment);
    // authinfo_unavail (remote login, daemon down and fail-open); failures.
    for (code, mfa_passes) in [
        ("success", true),
        ("ignore", true),
        ("authinfo_unavail", true),
        ("auth_err", false),
        ("maxtries", false),
        ("user_unknown", false),
    ] {
        assert_eq!(
            stack_accepts(&mfa, code, true, dir.path()),
            mfa_passes,
            "MFA lines, right password, pam_behavior returns {code}"
        );
        assert_eq!(
            stack_accepts(&clean_room, code, true, dir.path()),
            code == "success" || code == "ignore",
            "clean-room lines, right password, pam_behavior returns {code}"
        );
        assert!(
            !stack_accepts(&mfa, code, false, dir.path()),
            "MFA lines, wrong password, pam_behavior returns {code}: must refuse"
        );
        assert!(
            stack_accepts(&passwordless, code, true, dir.path()),
            "passwordless lines, right password, pam_behavior returns {code}: password is the fallback"
        );
        assert_eq!(
            stack_accepts(&passwordless, code, false, dir.path()),
            code == "success",
            "passwordless lines, wrong password, pam_behavior returns {code}"
        );
    }
}

#[test]
fn unit_starts_under_systemd_with_its_sandbox_in_a_throwaway_root() {
    if !is_root() {
        eprintln!("not root: the unit under a running systemd not tested (needs namespaces)");
        return;
    }
    let dir = scratch_dir();
    let (old, new) = old_and_new_debs(dir.path());
    // Everything the script needs goes into the directory mounted at /results.
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    std::fs::copy(&old, results.join("old.deb")).unwrap();
    std::fs::copy(&new, results.join("new.deb")).unwrap();
    for file in [
        "packaging/test/systemd-checks.sh",
        "packaging/test/sandbox-probe.py",
        "packaging/test/pamtester-e2e.py",
        "tests/fixtures/iiitbh_two_subjects.jsonl",
    ] {
        let from = workspace_root().join(file);
        std::fs::copy(&from, results.join(from.file_name().unwrap())).unwrap();
    }
    let out = systemd_root(
        &[],
        &results,
        &[
            "/results/systemd-checks.sh",
            "/results/old.deb",
            "/results/new.deb",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = format!(
        "{stdout}\n{}\nsystemd:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(results.join("systemd.log")).unwrap_or_default()
    );
    assert!(out.status.success(), "under systemd:\n{log}");
    assert_eq!(stdout.lines().last(), Some("SYSTEMD OK"), "{log}");
}

#[test]
fn install_script_installs_and_starts_the_daemon_under_systemd() {
    if !is_root() {
        eprintln!("not root: scripts/install.sh under systemd not tested (needs namespaces)");
        return;
    }
    let root = workspace_root();
    let dir = scratch_dir();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let script = format!(
        "cd '{}' && PROFILE=debug scripts/install.sh && systemctl is-active behaviord.service && behaviorctl status",
        root.display()
    );
    let out = systemd_root(
        &checkout_and_toolchain(),
        &results,
        &["/bin/bash", "-c", &script],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "install.sh under systemd:\n{log}");
    assert!(
        stdout.contains("the daemon is running"),
        "install.sh did not report the running daemon:\n{log}"
    );
}

#[test]
fn try_script_runs_the_daemon_on_a_private_bus() {
    if !is_root() {
        eprintln!("not root: scripts/try.sh not tested (the daemon needs root)");
        return;
    }
    built("behaviord");
    let out = output_within(
        Command::new(workspace_root().join("scripts/try.sh")).args([
            "--",
            "behaviorctl",
            "status",
            "--json",
        ]),
        COMMAND_LIMIT,
        "scripts/try.sh -- behaviorctl status --json",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "try.sh:\n{log}");
    let status: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("behaviorctl status --json: {e}:\n{log}"));
    // The daemon answering is try.sh's, on its temporary state, never the system's.
    let db = status["database"].as_str().unwrap_or_default();
    assert!(
        db.starts_with("/tmp/behaviord-try."),
        "try.sh's daemon uses {db:?}:\n{log}"
    );
}

/// A man page rendered as plain text on very long lines (no wrapping, no hyphenation).
fn rendered(page: &str) -> String {
    stdout(
        Command::new("man")
            .args(["-E", "UTF-8", "-l"])
            .arg(workspace_root().join("packaging/man").join(page))
            .env("MANWIDTH", "1000")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("MAN_KEEP_FORMATTING"),
    )
}

#[test]
fn man_pages_cover_every_command_option_and_setting() {
    // behaviorctl(1): every subcommand of `behaviorctl --help` is a tagged entry.
    let help = stdout(Command::new(built("behaviorctl")).arg("--help"));
    let page = rendered("behaviorctl.1");
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(
        commands.len() > 5,
        "no commands in behaviorctl --help:\n{help}"
    );
    for c in commands {
        assert!(
            page.lines().any(|l| l.split_whitespace().next() == Some(c)),
            "behaviorctl.1 does not document `behaviorctl {c}`"
        );
    }

    // behaviord(8): every long option of `behaviord --help`.
    let help = stdout(Command::new(built("behaviord")).arg("--help"));
    let page = rendered("behaviord.8");
    for option in help.split_whitespace().filter(|w| w.starts_with("--")) {
        let option = option.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        if option == "--help" || option == "--version" {
            continue;
        }
        assert!(
            page.contains(option),
            "behaviord.8 does not document {option}"
        );
    }

    // behaviord.toml(5): every section and key of the shipped etc/behaviord.toml.
    let Ok(toml) = std::fs::read_to_string(workspace_root().join("etc/behaviord.toml")) else {
        return;
    };
    let page = rendered("behaviord.toml.5");
    for line in toml.lines().filter(|l| !l.starts_with('#')) {
        let name = if let Some(section) = line.strip_prefix('[') {
            section.trim_end_matches(']')
        } else if let Some((key, _)) = line.split_once('=') {
            key.trim()
        } else {
            continue;
        };
        assert!(
            page.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == name),
            "behaviord.toml.5 does not document `{name}`"
        );
    }
}

/// Every policy example the admin is shown (the README's ```toml blocks and the EXAMPLES of
/// behaviord.toml(5)) is a valid policy: `behaviord --check-config` accepts it.
#[test]
fn documented_policy_examples_pass_check_config() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let mut examples: Vec<(String, String)> = readme
        .split("```")
        .skip(1)
        .step_by(2)
        .filter_map(|b| b.strip_prefix("toml\n"))
        .enumerate()
        .map(|(i, b)| (format!("README.md toml block {}", i + 1), b.to_string()))
        .collect();
    let man =
        std::fs::read_to_string(workspace_root().join("packaging/man/behaviord.toml.5")).unwrap();
    let examples_section = &man[man.find(".SH EXAMPLES").unwrap()..];
    for (i, block) in examples_section
        .split(".nf\n")
        .skip(1)
        .filter_map(|b| b.split("\n.fi").next())
        .enumerate()
    {
        examples.push((
            format!("behaviord.toml.5 example {}", i + 1),
            block.replace("\\-", "-"),
        ));
    }
    assert!(examples.len() >= 4, "too few examples found: {examples:?}");
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in examples {
        let path = dir.path().join("example.toml");
        std::fs::write(&path, &text).unwrap();
        let out = Command::new(built("behaviord"))
            .arg("--check-config")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name} is not a valid policy: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
