//! Start-up, serving and shutdown of `behaviord`.
//!
//! Order matters for `Type=dbus`: everything is ready (config valid, state directory locked,
//! database open and migrated, objects registered) before the bus name is requested, so the
//! name appearing means the daemon serves. SIGTERM/SIGINT: new calls are refused, calls in
//! progress finish, the name is released and the database closed.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use behavior_ipc::{ADMIN_PATH, AUTH_PATH, BUS_NAME, TEST_PATH, USER_PATH};
use nix::fcntl::{Flock, FlockArg};
use tokio::sync::mpsc;
use zbus::export::futures_core::Stream;
use zbus::fdo::RequestNameFlags;

use crate::audit::Syslog;
use crate::capture;
use crate::config::{self, Config};
use crate::service::admin::AdminObject;
use crate::service::auth::AuthObject;
use crate::service::test_input::TestObject;
use crate::service::user::UserObject;
use crate::service::State;
use crate::store::Store;

pub const DEFAULT_STATE_DIR: &str = "/var/lib/behaviord";
/// Lock file in the state directory: one daemon per state directory.
pub const LOCK_FILE: &str = "behaviord.lock";

pub struct Options {
    pub config: PathBuf,
    /// `--config` was given: a missing file is then an error, not the defaults.
    pub config_given: bool,
    pub state_dir: PathBuf,
    /// `--syslog-socket` (tests); `/dev/log` otherwise.
    pub syslog_socket: Option<PathBuf>,
    /// `--test-input`: export `org.behaviord.Test1`.
    pub test_input: bool,
}

/// Reads the policy file; the defaults when the default file is absent.
pub fn read_config(path: &Path, given: bool) -> Result<(String, Config), String> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let config = config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok((text, config))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !given => {
            eprintln!(
                "behaviord: {} not found; using the built-in defaults",
                path.display()
            );
            Ok((String::new(), Config::default()))
        }
        Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
    }
}

/// Creates the state directory (0700) if needed and takes its lock.
fn prepare_state_dir(dir: &Path) -> Result<Flock<fs::File>, String> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("state directory {}: cannot create: {e}", dir.display()))?;
    }
    let meta = fs::metadata(dir).map_err(|e| format!("state directory {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "state directory {}: not a directory",
            dir.display()
        ));
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
        format!(
            "state directory {}: cannot set mode 0700: {e}",
            dir.display()
        )
    })?;
    let lock_path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| format!("{}: cannot open: {e}", lock_path.display()))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| {
        format!(
            "another behaviord is already running on {} (lock {} is held)",
            dir.display(),
            lock_path.display()
        )
    })
}

/// Runs the daemon until SIGTERM/SIGINT. `Err` is the reason it could not start (or stop
/// cleanly), for stderr and exit status 1.
pub fn run(opts: Options) -> Result<(), String> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    return_large_allocations();
    let (file_text, _) = read_config(&opts.config, opts.config_given)?;
    let _lock = prepare_state_dir(&opts.state_dir)?;
    let store = Store::open(&opts.state_dir).map_err(|e| e.to_string())?;

    // Stored overrides win over the file; one that the file no longer admits is set aside
    // (and said), never fatal.
    let overrides = store.settings().map_err(|e| e.to_string())?;
    let (config, refused) = config::effective(&file_text, &overrides)
        .map_err(|e| format!("{}: {e}", opts.config.display()))?;
    for (key, reason) in refused {
        eprintln!("behaviord: ignoring the stored setting {key}: {reason}");
    }

    let syslog = match Syslog::connect(opts.syslog_socket.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("behaviord: {e}; events go to the database only");
            Syslog::none()
        }
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let state = Arc::new(State::new(
        store,
        syslog,
        opts.config.clone(),
        file_text,
        config,
        rt.handle().clone(),
        opts.test_input,
    ));
    let result = rt.block_on(serve(state.clone(), opts.test_input));
    let closed = state.store.close().map_err(|e| e.to_string());
    rt.shutdown_timeout(Duration::from_secs(1));
    result.and(closed)
}

/// argon2id allocates its whole memory cost (19 MiB by default) per PIN check, on whichever
/// blocking thread runs it. glibc's adaptive mmap threshold would soon serve such blocks from
/// per-thread arenas and keep them after use, so an idle daemon would hold tens of MiB. A
/// fixed threshold keeps every large block an mmap that goes back to the kernel on free.
fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

async fn serve(state: Arc<State>, test_input: bool) -> Result<(), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(capture::run(rx, state.captures.clone()));

    let auth = AuthObject::new(state.clone());
    let pending = auth.sweeper();
    let mut builder = zbus::connection::Builder::system()
        .map_err(|e| format!("system bus: {e}"))?
        .serve_at(AUTH_PATH, auth)
        .and_then(|b| {
            b.serve_at(
                ADMIN_PATH,
                AdminObject {
                    state: state.clone(),
                },
            )
        })
        .and_then(|b| {
            b.serve_at(
                USER_PATH,
                UserObject {
                    state: state.clone(),
                },
            )
        })
        .map_err(|e| format!("cannot export objects: {e}"))?;
    if test_input {
        builder = builder
            .serve_at(
                TEST_PATH,
                TestObject {
                    state: state.clone(),
                    keys: tx.clone(),
                },
            )
            .map_err(|e| format!("cannot export objects: {e}"))?;
    }
    let conn = builder
        .build()
        .await
        .map_err(|e| format!("cannot connect to the system bus: {e}"))?;
    // Before the name is taken: the first call may come the moment it is.
    state.set_connection(conn.clone());
    // Objects are registered: taking the name now announces a ready service (Type=dbus).
    // DoNotQueue: a second daemon must fail, not wait in line (the builder's `name()` queues).
    conn.request_name_with_flags(BUS_NAME, RequestNameFlags::DoNotQueue.into())
        .await
        .map_err(|e| match e {
            zbus::Error::NameTaken => {
                format!("{BUS_NAME} is already owned: another behaviord is running")
            }
            e => format!("cannot own {BUS_NAME} on the system bus: {e}"),
        })?;

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("cannot handle SIGINT: {e}"))?;

    // Handles die with their caller's bus connection.
    let dbus = zbus::fdo::DBusProxy::new(&conn)
        .await
        .map_err(|e| format!("bus: {e}"))?;
    let mut owners = dbus
        .receive_name_owner_changed()
        .await
        .map_err(|e| format!("bus: {e}"))?;
    let watcher = state.clone();
    let left = pending.clone();
    tokio::spawn(async move {
        while let Some(sig) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut owners).poll_next(cx)).await
        {
            if let Ok(args) = sig.args() {
                if args.new_owner().is_none() && args.name().starts_with(':') {
                    watcher.caller_left(args.name());
                    left.sweep(Some(args.name()));
                }
            }
        }
    });
    let sweeper = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            sweeper.expire_sessions();
            pending.sweep(None);
        }
    });

    let mut notes = format!("behaviord {} serving {BUS_NAME}", env!("CARGO_PKG_VERSION"));
    if test_input {
        let warn = "test input is ON (--test-input): org.behaviord.Test1 accepts injected key timings; never use this in production";
        eprintln!("behaviord: WARNING: {warn}");
        state.syslog.warning(warn);
        notes.push_str(" (test input)");
    }
    match crate::monitoring::restart(state.clone()).await {
        Ok(note) => {
            notes.push_str(", ");
            notes.push_str(&note);
        }
        Err(warn) => {
            eprintln!("behaviord: WARNING: {warn}");
            state.syslog.warning(&warn);
        }
    }
    if !test_input {
        // Real keyboards; without them the daemon still serves (PINs, admin) and says why.
        let input_config = crate::input::InputConfig {
            allow_virtual: state.config().input.allow_virtual,
            ..crate::input::InputConfig::default()
        };
        if input_config.allow_virtual {
            let warn = "input.allow_virtual is on: virtual (uinput) keyboards are read, so replayed key timings count as typing";
            eprintln!("behaviord: WARNING: {warn}");
            state.syslog.warning(warn);
        }
        match crate::input::spawn(input_config, tx.clone()) {
            Ok(input) => {
                notes.push_str(&format!(
                    ", reading {} keyboard(s)",
                    input.keyboards().len()
                ));
                state.captures.set_seats(input.seats());
                state.set_input(input);
            }
            Err(e) => {
                let warn = format!(
                    "cannot read keyboards under /dev/input: {e}; typing cannot be verified"
                );
                eprintln!("behaviord: WARNING: {warn}");
                state.syslog.warning(&warn);
            }
        }
    }
    drop(tx);
    eprintln!("behaviord: {notes}");
    state.syslog.info(&notes);

    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("behaviord: stopping");
    let drained = state.drain(Duration::from_secs(10)).await;
    let _ = conn.release_name(BUS_NAME).await;
    state.syslog.info("behaviord stopped");
    // The writer thread may be behind; give it a moment, never more (syslog may be stuck).
    state.syslog.flush(Duration::from_millis(500));
    if !drained {
        return Err("calls still in progress after 10 s at shutdown".into());
    }
    Ok(())
}
