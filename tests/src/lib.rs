//! Shared harness for the end-to-end tests in `tests/tests/`: paths to the built binaries, a
//! private `dbus-daemon` that loads the shipped bus policy, and a syslog sink.
//!
//! Test-only code: panics here are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The workspace root (the folder with the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `target/debug` (or `$CARGO_TARGET_DIR/debug`), where `cargo build` puts binaries and the
/// PAM module's cdylib.
pub fn build_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("debug")
}

/// A file `cargo build --workspace` produced: `behaviord`, `behaviorctl`,
/// `libpam_behavior.so`. Fails the test with the command to run when it is missing.
pub fn built(name: &str) -> PathBuf {
    let path = build_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` before the end-to-end tests",
        path.display()
    );
    path
}

/// A temporary directory that unprivileged users can enter (mode 0755), for sockets and
/// state that a `setpriv --reuid=nobody` process must reach.
pub fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("behaviord-test")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A private system bus: a real `dbus-daemon` whose configuration includes the project's
/// own policy file from `etc/dbus-1/system.d/`, so the shipped policy is what is tested.
/// Killed on drop, so a failed test leaves no orphan.
pub struct PrivateBus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl PrivateBus {
    pub fn start() -> PrivateBus {
        let dir = open_tempdir();
        let socket = dir.path().join("system_bus_socket");
        let policy = workspace_root().join("etc/dbus-1/system.d/org.behaviord.Behavior1.conf");
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"#,
                socket = socket.display(),
                policy = policy.display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dbus-daemon must be installed (Debian package dbus)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_string();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed {address:?}"
        );
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
        PrivateBus {
            child,
            address,
            _dir: dir,
        }
    }

    /// The value for `DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A zbus connection to this bus as the test process (root in CI).
    pub fn connect(&self) -> zbus::blocking::Connection {
        zbus::blocking::connection::Builder::address(self.address.as_str())
            .unwrap()
            .build()
            .unwrap()
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A syslog socket for the daemon: datagrams sent to `path()` are collected as lines.
/// Bound before the daemon starts (the syslog crate connects at once).
pub struct SyslogSink {
    socket: UnixDatagram,
    path: PathBuf,
}

impl SyslogSink {
    pub fn bind(dir: &Path) -> SyslogSink {
        let path = dir.join("syslog.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        SyslogSink { socket, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every message received so far (waits up to 200 ms for the first).
    pub fn drain(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_bus_answers_and_applies_the_shipped_policy() {
        let bus = PrivateBus::start();
        let conn = bus.connect();
        let dbus = zbus::blocking::fdo::DBusProxy::new(&conn).unwrap();
        assert!(dbus
            .list_names()
            .unwrap()
            .iter()
            .any(|n| n.as_str() == "org.freedesktop.DBus"));
        // Root may own the daemon's name under the shipped policy.
        if nix_is_root() {
            conn.request_name("org.behaviord.Behavior1").unwrap();
        }
    }

    #[test]
    fn syslog_sink_collects_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SyslogSink::bind(dir.path());
        let client = UnixDatagram::unbound().unwrap();
        client
            .send_to(b"<86>behaviord: hello", sink.path())
            .unwrap();
        assert_eq!(sink.drain(), vec!["<86>behaviord: hello".to_string()]);
    }

    fn nix_is_root() -> bool {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() == 0 }
    }
}
