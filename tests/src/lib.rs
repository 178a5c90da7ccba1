//! Shared harness for the end-to-end tests in `tests/tests/`: paths to the built binaries, a
//! private `dbus-daemon` that loads the shipped bus policy, and a syslog sink.
//!
//! Test-only code: panics here are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod logind_mock;
pub mod typist;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The workspace root (the folder with the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `target/debug` (or `$CARGO_TARGET_DIR/debug`), where `cargo build` puts binaries and the
/// PAM module's cdylib; `$BEHAVIOR_TEST_PROFILE` (e.g. `release`) picks another profile's
/// folder, for benchmarks.
pub fn build_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let profile = std::env::var("BEHAVIOR_TEST_PROFILE").unwrap_or_else(|_| "debug".into());
    target.join(profile)
}

/// A file `cargo build --workspace` produced: `behaviord`, `behaviorctl`,
/// `libpam_behavior.so`. Fails the test with the command to run when it is missing.
pub fn built(name: &str) -> PathBuf {
    let path = build_dir().join(name);
    match std::fs::metadata(&path) {
        Ok(_) => path,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => panic!(
            "{} cannot be reached by uid {}: the checkout must be readable by others (some tests run as nobody)",
            path.display(),
            // SAFETY: getuid has no preconditions and cannot fail.
            unsafe { libc::getuid() }
        ),
        Err(_) => panic!(
            "{} is missing: run `cargo build --workspace` before the end-to-end tests",
            path.display()
        ),
    }
}

/// Runs `cmd` with its output captured, as `Command::output` does, but kills it and fails
/// the test, naming `what` and showing the output so far, when it runs longer than `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration, what: &str) -> std::process::Output {
    output_with_input(cmd, None, limit, what)
}

/// [`output_within`] with `input` written to the child's standard input (then closed).
pub fn output_with_input(
    cmd: &mut Command,
    input: Option<&str>,
    limit: Duration,
    what: &str,
) -> std::process::Output {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    // Its own process group, so that a deadline kills what it started too (qemu under
    // the VM script), not only the script.
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let collect = |mut pipe: Box<dyn Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let mut stdin = child.stdin.take().unwrap();
    if let Some(text) = input {
        // Small inputs fit in the pipe; a child that never reads cannot block this.
        let _ = stdin.write_all(text.as_bytes());
    }
    drop(stdin);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            // SAFETY: kill of the process group we created for this child.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            let grab = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
                let buf = rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
                String::from_utf8_lossy(&buf).into_owned()
            };
            let (out, err) = (grab(stdout), grab(stderr));
            panic!("{what} did not finish within {limit:?} and was killed\n--- stdout:\n{out}\n--- stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // A process it left behind may hold the pipes open: that is a hang too.
    let rest = |rx: std::sync::mpsc::Receiver<Vec<u8>>, which: &str| {
        rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
            panic!("{what} exited ({status}) but something it started still holds its {which} open")
        })
    };
    std::process::Output {
        status,
        stdout: rest(stdout, "stdout"),
        stderr: rest(stderr, "stderr"),
    }
}

/// How long one run of the test VM may take: a boot under software emulation took 6 to
/// 10 s, a probe with a daemon inside under a minute; a loaded 2-core machine, more.
const VM_LIMIT: Duration = Duration::from_secs(600);

/// How long one `behaviorctl` run may take (the slowest, `evaluate`, takes seconds).
const CTL_LIMIT: Duration = Duration::from_secs(60);

/// Boots the test VM (`tests/vm/run.sh`: Debian's kernel under qemu, uinput available) with
/// `args` run inside, and asserts that the probe reported each of `cases` as
/// `VMTEST case NAME ok`, then `VMTEST ALL OK`, and exited 0. Fails, never skips, when the VM
/// cannot run: the reason is in the message. Prints the probe's `VMTEST figure` lines and
/// the VM's wall time, for whoever reads the output (`--nocapture`).
pub fn run_vm_probe(args: &[String], cases: &[&str]) {
    let script = workspace_root().join("tests/vm/run.sh");
    let started = std::time::Instant::now();
    let out = output_within(
        Command::new(&script).args(args),
        VM_LIMIT,
        &format!("the test VM ({})", script.display()),
    );
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
    for case in cases {
        assert!(
            results.contains(&format!("VMTEST case {case} ok").as_str()),
            "case {case} did not pass\n{context}"
        );
    }
    assert!(results.contains(&"VMTEST ALL OK"), "{context}");
    assert!(out.status.success(), "{context}");
    for line in results.iter().filter(|l| l.starts_with("VMTEST figure")) {
        println!("{line}");
    }
    println!(
        "VMTEST figure vm_wall_s={:.1} (boot, probe, power off)",
        wall.as_secs_f64()
    );
}

/// The tests run as root (CI); some parts need it (namespaces, the daemon's bus name).
pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
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

/// How long dbus-daemon may take to print its address (it takes milliseconds).
const BUS_LIMIT: Duration = Duration::from_secs(20);

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
        PrivateBus::start_with(true, "")
    }

    /// A bus WITHOUT the project's policy (anyone may own or call anything), to show what
    /// the daemon and the module refuse by themselves where that policy is missing.
    pub fn start_open() -> PrivateBus {
        PrivateBus::start_with(false, "")
    }

    /// [`PrivateBus::start_open`] with `extra` inside `<busconfig>` (for example a
    /// `<servicedir>` for bus activation).
    pub fn start_open_with(extra: &str) -> PrivateBus {
        PrivateBus::start_with(false, extra)
    }

    /// Services the bus activates inherit `DBUS_SYSTEM_BUS_ADDRESS` pointing at it.
    fn start_with(shipped_policy: bool, extra: &str) -> PrivateBus {
        let dir = open_tempdir();
        let socket = dir.path().join("system_bus_socket");
        let policy = if shipped_policy {
            let path = workspace_root().join("etc/dbus-1/system.d/org.behaviord.Behavior1.conf");
            format!("<include>{}</include>", path.display())
        } else {
            String::new()
        };
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            include_str!("../../scripts/private-bus.conf.in")
                .replace("@SOCKET@", &socket.display().to_string())
                .replace("@INCLUDE@", &policy)
                .replace("@EXTRA@", extra),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .args(["--nofork", "--print-address"])
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                format!("unix:path={}", socket.display()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dbus-daemon must be installed (Debian package dbus)");
        pass_on_stderr(child.stderr.take().unwrap());
        // Read in a thread so that a dbus-daemon that never prints is killed, not waited on.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let Ok(line) = rx.recv_timeout(BUS_LIMIT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dbus-daemon did not print its address within {BUS_LIMIT:?} and was killed");
        };
        let address = line.trim().to_string();
        if !address.starts_with("unix:") {
            let _ = child.kill();
            let status = child.wait();
            panic!("dbus-daemon printed {address:?} instead of its address ({status:?})");
        }
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
        connect_to(&self.address)
    }
}

/// dbus-daemon, root without CAP_SYS_RESOURCE (a container), warns at every start that it
/// cannot raise its fd limit to 65536; harmless for a test bus, so not passed on.
const BUS_NOISE: &str = "Failed to set fd limit";

/// Passes dbus-daemon's standard error on to the test's, without [`BUS_NOISE`].
fn pass_on_stderr(stderr: std::process::ChildStderr) {
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !line.contains(BUS_NOISE) {
                eprintln!("{line}");
            }
        }
    });
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A syslog socket for the daemon: datagrams sent to `path()` are collected as lines by a
/// reader thread that drains the socket continuously, so the daemon never waits on it.
/// Bound before the daemon starts (the syslog crate connects at once).
pub struct SyslogSink {
    path: PathBuf,
    lines: Arc<(Mutex<Vec<String>>, Condvar)>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Kept open and never read (see [`SyslogSink::bind_unread`]).
    _unread: Option<UnixDatagram>,
}

impl SyslogSink {
    pub fn bind(dir: &Path) -> SyslogSink {
        let (path, socket) = SyslogSink::bind_socket(dir);
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped) = (lines.clone(), stop.clone());
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while !stopped.load(Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buf) {
                    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                    shared.0.lock().unwrap().push(line);
                    shared.1.notify_all();
                }
            }
        });
        SyslogSink {
            path,
            lines,
            stop,
            reader: Some(reader),
            _unread: None,
        }
    }

    /// A syslog socket that is bound but never read, as behind a stuck journald: created
    /// in a new network namespace, where `net.unix.max_dgram_qlen` is the kernel's default
    /// of 10, so its queue fills after 10 datagrams and a blocking sender would wait
    /// forever. Needs root (`unshare(CLONE_NEWNET)`), on this thread only.
    pub fn bind_unread(dir: &Path) -> SyslogSink {
        let dir = dir.to_path_buf();
        let (path, socket) = std::thread::spawn(move || {
            // SAFETY: unshare moves only this short-lived thread into a new namespace.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "unshare(CLONE_NEWNET) failed (needs root): {}",
                std::io::Error::last_os_error()
            );
            SyslogSink::bind_socket(&dir)
        })
        .join()
        .unwrap();
        SyslogSink {
            path,
            lines: Arc::default(),
            stop: Arc::default(),
            reader: None,
            _unread: Some(socket),
        }
    }

    fn bind_socket(dir: &Path) -> (PathBuf, UnixDatagram) {
        let path = dir.join("syslog.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        (path, socket)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every line received since the last call, once 200 ms passed without a new one
    /// (so it waits up to 200 ms for the first); at most 10 s under a steady stream.
    pub fn drain(&self) -> Vec<String> {
        let (lines, arrived) = &*self.lines;
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut got = lines.lock().unwrap();
        loop {
            let before = got.len();
            let (g, _) = arrived
                .wait_timeout_while(got, Duration::from_millis(200), |l| l.len() == before)
                .unwrap();
            got = g;
            if got.len() == before || Instant::now() >= give_up {
                return std::mem::take(&mut *got);
            }
        }
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The built `behaviord`, running on a [`PrivateBus`] with its own temporary state
/// directory, policy file and [`SyslogSink`]. Killed (SIGKILL) on drop.
pub struct Daemon {
    child: Option<Child>,
    bus_address: String,
    dir: tempfile::TempDir,
    pub syslog: SyslogSink,
    test_input: bool,
    /// Extra environment of the daemon process from its next (re)start.
    pub env: Vec<(String, String)>,
}

impl Daemon {
    /// Starts `behaviord --test-input` with `config` (TOML text) and waits until it owns its
    /// bus name.
    pub fn start(bus: &PrivateBus, config: &str) -> Daemon {
        Daemon::start_with(bus, config, true)
    }

    pub fn start_with(bus: &PrivateBus, config: &str, test_input: bool) -> Daemon {
        Daemon::start_with_sink(bus, config, test_input, SyslogSink::bind)
    }

    /// [`Daemon::start`] with a syslog socket that is never read
    /// ([`SyslogSink::bind_unread`]).
    pub fn start_with_unread_syslog(bus: &PrivateBus, config: &str) -> Daemon {
        Daemon::start_with_sink(bus, config, true, SyslogSink::bind_unread)
    }

    fn start_with_sink(
        bus: &PrivateBus,
        config: &str,
        test_input: bool,
        sink: fn(&Path) -> SyslogSink,
    ) -> Daemon {
        let dir = open_tempdir();
        std::fs::write(dir.path().join("behaviord.toml"), config).unwrap();
        let syslog = sink(dir.path());
        let mut d = Daemon {
            child: None,
            bus_address: bus.address().to_string(),
            dir,
            syslog,
            test_input,
            env: Vec::new(),
        };
        d.launch();
        d
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("behaviord.toml")
    }

    /// The SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self.state_dir().join("behaviord.db")
    }

    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon not running").id()
    }

    /// The daemon command line, for tests that run it themselves.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(built("behaviord"));
        cmd.env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus_address)
            .arg("--config")
            .arg(self.config_path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--syslog-socket")
            .arg(self.syslog.path());
        if self.test_input {
            cmd.arg("--test-input");
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn launch(&mut self) {
        let child = self.command().stderr(Stdio::inherit()).spawn().unwrap();
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until this daemon process owns its name (it requests the name last, when
    /// ready). Checking the owner's pid matters after a kill -9: the bus may still list the
    /// dead process as the owner for a moment.
    pub fn wait_ready(&mut self) {
        let limit = Duration::from_secs(20);
        let conn = zbus::blocking::connection::Builder::address(self.bus_address.as_str())
            .unwrap()
            .method_timeout(limit)
            .build()
            .unwrap();
        let dbus = zbus::blocking::fdo::DBusProxy::new(&conn).unwrap();
        let name = zbus::names::BusName::try_from(behavior_ipc::BUS_NAME).unwrap();
        let deadline = Instant::now() + limit;
        loop {
            let pid = self.child.as_ref().unwrap().id();
            if dbus.get_connection_unix_process_id(name.clone()).ok() == Some(pid) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("behaviord exited before serving: {status}");
            }
            if Instant::now() >= deadline {
                self.kill9();
                panic!("behaviord did not take its bus name within {limit:?} and was killed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon not running");
        // SAFETY: kill with a pid we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        child.wait().unwrap()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the daemon again on the same state, policy and syslog sink.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the daemon first");
        self.launch();
    }

    /// Runs the built `behaviorctl` against this daemon's bus.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        self.ctl_with(args, None)
    }

    /// Runs `behaviorctl` with `stdin` as its standard input.
    pub fn ctl_with(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut cmd = Command::new(built("behaviorctl"));
        cmd.args(args);
        run_with_stdin(cmd, &self.bus_address, stdin)
    }

    /// Runs `behaviorctl` as `nobody:nogroup` (via `setpriv`).
    pub fn ctl_as_nobody(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(built("behaviorctl"))
            .args(args);
        run_with_stdin(cmd, &self.bus_address, stdin)
    }

    /// A connection to the bus as the test process (root).
    pub fn connect(&self) -> zbus::blocking::Connection {
        connect_to(&self.bus_address)
    }

    /// Injects one recorded typing through `org.behaviord.Test1` (the daemon must run with
    /// `--test-input`); returns once the daemon has processed its key events.
    pub fn inject(&self, conn: &zbus::blocking::Connection, typing: &Typing) {
        let test = behavior_ipc::test::TestProxyBlocking::new(conn).unwrap();
        let keys: Vec<(&str, f64, f64)> = typing
            .keys
            .iter()
            .map(|(k, d, u)| (k.as_str(), *d, *u))
            .collect();
        assert_eq!(test.inject_keys(&keys).unwrap(), 2 * keys.len() as u32);
    }

    /// Enrolls `user` through `Auth1` (stage `enroll` expected) with `typings` in order, then
    /// sets up `pin` if the daemon asks for one, finishes and commits; returns the `Finish`
    /// outcome.
    pub fn enroll(
        &self,
        user: &str,
        typings: &[Typing],
        pin: Option<&str>,
    ) -> behavior_ipc::auth::Outcome {
        use behavior_ipc::auth::{AuthProxyBlocking, EnrollStatus, Stage};
        let conn = self.connect();
        let auth = AuthProxyBlocking::new(&conn).unwrap();
        let b = auth.begin(user, "login", "tty1", "").unwrap();
        assert_eq!(b.stage, Stage::Enroll, "{b:?}");
        let mut complete = false;
        for t in typings {
            auth.open_capture(&b.handle).unwrap();
            self.inject(&conn, t);
            let step = auth.submit_enrollment(&b.handle, &t.text).unwrap();
            match step.status {
                EnrollStatus::Complete => {
                    complete = true;
                    break;
                }
                EnrollStatus::Accepted => {}
                other => panic!("enrollment step {other:?}: {}", step.message),
            }
        }
        assert!(
            complete,
            "enrollment did not complete with {} typings",
            typings.len()
        );
        if b.pin_enroll {
            auth.enroll_pin(&b.handle, pin.expect("the daemon asks for a PIN"))
                .unwrap();
        }
        let outcome = auth.finish(&b.handle).unwrap();
        // What an enrollment set up is stored only on the PAM module's word that the rest
        // of the stack authenticated the user: here the test is that stack.
        assert!(outcome.pending, "{outcome:?}");
        auth.commit(&b.handle).unwrap();
        outcome
    }

    /// Rows of the `events` table: (name, user, outcome, source), oldest first.
    pub fn db_events(&self) -> Vec<(String, String, String, String)> {
        let db = rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut stmt = db
            .prepare("SELECT name, user, outcome, source FROM events ORDER BY id")
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap();
        rows.map(|r| r.unwrap()).collect()
    }

    /// One integer from the database (`SELECT COUNT(*) ...`).
    pub fn db_count(&self, sql: &str) -> i64 {
        let db = rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Resident set size of the daemon process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// How long a test's D-Bus call may wait for its reply before it fails (the daemon's
/// slowest, a PIN check, takes well under a second).
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// A connection whose method calls fail with a timeout after [`CALL_LIMIT`] instead of
/// waiting forever on a hung daemon.
fn connect_to(address: &str) -> zbus::blocking::Connection {
    zbus::blocking::connection::Builder::address(address)
        .unwrap()
        .method_timeout(CALL_LIMIT)
        .build()
        .unwrap_or_else(|e| panic!("cannot connect to the bus at {address}: {e}"))
}

fn run_with_stdin(mut cmd: Command, bus: &str, stdin: Option<&str>) -> std::process::Output {
    cmd.env("DBUS_SYSTEM_BUS_ADDRESS", bus);
    let what = format!("{cmd:?}");
    output_with_input(&mut cmd, stdin, CTL_LIMIT, &what)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One recorded typing from a fixture file (samples-format JSONL).
#[derive(Clone, Debug)]
pub struct Typing {
    pub subject: String,
    pub text: String,
    /// (key name, down ms, up ms), as `Test1.InjectKeys` takes them.
    pub keys: Vec<(String, f64, f64)>,
}

impl Typing {
    /// The same rhythm typed again: key `k % n` held 4, 8 or 12 ms longer (by `k / n`), so
    /// that no two of 3n variants, nor the original, are a replay of each other for the
    /// daemon (which refuses a typing within 3 ms on every timing of one it has seen). The
    /// closing Enter is never the key: it is not part of the timings.
    pub fn retyped(&self, k: usize) -> Typing {
        let mut t = self.clone();
        let n = t.keys.len().saturating_sub(1).max(1);
        let extra = 4.0 * (1 + (k / n) % 3) as f64;
        if let Some(key) = t.keys.get_mut(k % n) {
            key.2 += extra;
        }
        t
    }
}

/// A kernel `input_event` as a device would deliver it, stamped `us` microseconds, for
/// feeding recorded input through the daemon's reading code without a device.
pub fn recorded_event(us: i64, type_: u16, code: u16, value: i32) -> evdev::InputEvent {
    libc::input_event {
        time: libc::timeval {
            tv_sec: us / 1_000_000,
            tv_usec: us % 1_000_000,
        },
        type_,
        code,
        value,
    }
    .into()
}

/// The phrase of `tests/fixtures/iiitbh_two_subjects.jsonl`.
pub const FIXTURE_PHRASE: &str = ".xat17padn";

/// Typings of `subject` from `tests/fixtures/iiitbh_two_subjects.jsonl` (`subject2`: 20,
/// the enrolled user in the daemon tests; `subject4`: 5, the impostor).
pub fn fixture_subject(subject: &str) -> Vec<Typing> {
    fixture_typings("iiitbh_two_subjects.jsonl")
        .into_iter()
        .filter(|t| t.subject == subject)
        .collect()
}

/// Reads `tests/fixtures/NAME` (samples-format JSONL).
pub fn fixture_typings(name: &str) -> Vec<Typing> {
    let path = workspace_root().join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Typing {
                subject: v["subject"].as_str().unwrap().to_string(),
                text: v["text"].as_str().unwrap().to_string(),
                keys: v["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| {
                        (
                            k["key"].as_str().unwrap().to_string(),
                            k["down"].as_f64().unwrap(),
                            k["up"].as_f64().unwrap(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
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
        if is_root() {
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

    #[test]
    #[should_panic(expected = "a stuck sleep did not finish within 200ms and was killed")]
    fn a_command_past_its_deadline_is_killed_and_named() {
        output_within(
            Command::new("sleep").arg("30"),
            Duration::from_millis(200),
            "a stuck sleep",
        );
    }

    #[test]
    fn a_command_within_its_deadline_gives_its_output() {
        let out = output_with_input(
            &mut Command::new("cat"),
            Some("typed"),
            Duration::from_secs(20),
            "cat",
        );
        assert!(out.status.success());
        assert_eq!(out.stdout, b"typed");
    }
}
