//! Shared by the `pam_*` end-to-end tests: the built `pam_behavior.so` loaded by the real
//! libpam (`pam_start_confdir` with a one-line service file), a conversation that records
//! every message with its style and answers prompts from a script, and a scripted mock
//! daemon (`tests/fixtures/mock_behaviord.py`) on a private bus.
//!
//! Test-only code: panics here are test failures with a message.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use std::os::unix::fs::PermissionsExt;

use behavior_tests::{built, open_tempdir, workspace_root, Daemon, PrivateBus, Typing};

pub const PAM_SUCCESS: c_int = 0;
pub const PAM_PERM_DENIED: c_int = 6;
pub const PAM_AUTH_ERR: c_int = 7;
pub const PAM_AUTHINFO_UNAVAIL: c_int = 9;
pub const PAM_USER_UNKNOWN: c_int = 10;
pub const PAM_MAXTRIES: c_int = 11;
pub const PAM_CONV_ERR: c_int = 19;
pub const PAM_IGNORE: c_int = 25;

pub const PAM_SILENT: c_int = 0x8000;

pub const PAM_TTY: c_int = 3;
pub const PAM_RHOST: c_int = 4;

const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;

/// One message the module sent, with its style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    EchoOn(String),
    EchoOff(String),
    Info(String),
    Error(String),
}

pub fn echo_on(s: &str) -> Msg {
    Msg::EchoOn(s.into())
}
pub fn echo_off(s: &str) -> Msg {
    Msg::EchoOff(s.into())
}
pub fn info(s: &str) -> Msg {
    Msg::Info(s.into())
}
pub fn error(s: &str) -> Msg {
    Msg::Error(s.into())
}

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

#[repr(C)]
struct PamConv {
    conv: extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_setcred(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

/// Called with (prompt, answer) just before a prompt is answered: the user "types" then.
pub type HookFn<'a> = dyn FnMut(&str, &str) + 'a;
pub type Hook<'a> = Box<HookFn<'a>>;

struct Transcript<'h> {
    seen: Vec<Msg>,
    answers: VecDeque<String>,
    /// A prompt came with no answer left: the conversation failed.
    starved: bool,
    hook: Option<&'h mut HookFn<'h>>,
    /// The hook panicked (caught: it cannot unwind through libpam); re-raised after.
    hook_failed: Option<String>,
}

extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    // SAFETY: appdata is the &mut Transcript handed to pam_start_confdir, alive for the
    // whole pam_authenticate call; libpam passes num_msg valid message pointers and
    // takes ownership of the calloc'ed responses.
    unsafe {
        let t = &mut *(appdata as *mut Transcript<'_>);
        let n = num_msg as usize;
        let responses = libc::calloc(n, std::mem::size_of::<PamResponse>()) as *mut PamResponse;
        for i in 0..n {
            let m = &**msg.add(i);
            let text = CStr::from_ptr(m.msg).to_string_lossy().into_owned();
            let prompt_text = text.clone();
            let prompt = match m.msg_style {
                PAM_PROMPT_ECHO_ON => {
                    t.seen.push(Msg::EchoOn(text));
                    true
                }
                PAM_PROMPT_ECHO_OFF => {
                    t.seen.push(Msg::EchoOff(text));
                    true
                }
                PAM_ERROR_MSG => {
                    t.seen.push(Msg::Error(text));
                    false
                }
                PAM_TEXT_INFO => {
                    t.seen.push(Msg::Info(text));
                    false
                }
                other => {
                    // No panic here: it cannot unwind through libpam.
                    t.seen
                        .push(Msg::Error(format!("<unexpected message style {other}>")));
                    false
                }
            };
            if prompt {
                let fail = |responses: *mut PamResponse| {
                    for j in 0..i {
                        libc::free((*responses.add(j)).resp as *mut c_void);
                    }
                    libc::free(responses as *mut c_void);
                    PAM_CONV_ERR
                };
                let Some(answer) = t.answers.pop_front() else {
                    t.starved = true;
                    return fail(responses);
                };
                if let Some(hook) = t.hook.as_mut() {
                    let run = std::panic::AssertUnwindSafe(|| hook(&prompt_text, &answer));
                    if let Err(e) = std::panic::catch_unwind(run) {
                        let why = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        t.hook_failed = Some(why);
                        return fail(responses);
                    }
                }
                let answer = CString::new(answer).unwrap_or_default();
                (*responses.add(i)).resp = libc::strdup(answer.as_ptr());
            }
        }
        *resp = responses;
        PAM_SUCCESS
    }
}

/// The process environment is shared by the tests of one binary: logins that point
/// `DBUS_SYSTEM_BUS_ADDRESS` somewhere run one at a time.
static ENV: Mutex<()> = Mutex::new(());

pub fn env_lock() -> MutexGuard<'static, ()> {
    ENV.lock().unwrap_or_else(|e| e.into_inner())
}

/// One login through the real libpam.
pub struct Login<'a> {
    /// The pam.d line(s), `{module}` standing for the built module's path.
    pub stack: String,
    pub user: &'a str,
    pub tty: Option<&'a str>,
    pub rhost: Option<&'a str>,
    /// `PAM_RHOST` as raw bytes (not UTF-8, say), in place of `rhost`.
    pub raw_rhost: Option<&'a [u8]>,
    /// Answers to the prompts, in order; every one must be used.
    pub answers: Vec<&'a str>,
    /// `DBUS_SYSTEM_BUS_ADDRESS` for the module.
    pub bus: String,
    /// `XDG_SEAT` in the process environment (unset when `None`).
    pub seat: Option<&'a str>,
    /// `pam_authenticate` flags (`PAM_SILENT`).
    pub flags: c_int,
    /// See [`Hook`].
    pub hook: Option<RefCell<Hook<'a>>>,
}

impl<'a> Login<'a> {
    /// `auth required pam_behavior.so ARGS` on a local console.
    pub fn new(args: &str, bus: &str) -> Login<'a> {
        Login {
            stack: format!("auth required {{module}} {args}"),
            user: "alice",
            tty: Some("/dev/tty1"),
            rhost: None,
            raw_rhost: None,
            answers: Vec::new(),
            bus: bus.to_string(),
            seat: None,
            flags: 0,
            hook: None,
        }
    }

    pub fn answers(mut self, answers: &[&'a str]) -> Login<'a> {
        self.answers = answers.to_vec();
        self
    }

    pub fn hook(mut self, hook: impl FnMut(&str, &str) + 'a) -> Login<'a> {
        self.hook = Some(RefCell::new(Box::new(hook)));
        self
    }

    /// Runs `pam_authenticate`; returns its code and every message the user saw.
    pub fn run(&self) -> (c_int, Vec<Msg>) {
        let dir = tempfile::tempdir().unwrap();
        let module = module_path();
        std::fs::write(
            dir.path().join("behavior-test"),
            self.stack
                .replace("{module}", &module.display().to_string())
                + "\n",
        )
        .unwrap();
        let mut hook = self.hook.as_ref().map(|h| h.borrow_mut());
        let mut transcript = Transcript {
            seen: Vec::new(),
            answers: self.answers.iter().map(|a| a.to_string()).collect(),
            starved: false,
            hook: hook
                .as_deref_mut()
                .map(|h| &mut **h as &mut dyn FnMut(&str, &str)),
            hook_failed: None,
        };
        let conv = PamConv {
            conv: converse,
            appdata_ptr: &mut transcript as *mut Transcript as *mut c_void,
        };
        let service = CString::new("behavior-test").unwrap();
        let user = CString::new(self.user).unwrap();
        let confdir = CString::new(dir.path().to_str().unwrap()).unwrap();
        let tty = self.tty.map(|t| CString::new(t).unwrap());
        let rhost = match self.raw_rhost {
            Some(raw) => Some(CString::new(raw).unwrap()),
            None => self.rhost.map(|r| CString::new(r).unwrap()),
        };

        let _env = env_lock();
        std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", &self.bus);
        match self.seat {
            Some(seat) => std::env::set_var("XDG_SEAT", seat),
            None => std::env::remove_var("XDG_SEAT"),
        }
        let mut pamh: *mut c_void = std::ptr::null_mut();
        // SAFETY: every pointer passed lives until pam_end below.
        let code = unsafe {
            let rc = pam_start_confdir(
                service.as_ptr(),
                user.as_ptr(),
                &conv,
                confdir.as_ptr(),
                &mut pamh,
            );
            assert_eq!(rc, PAM_SUCCESS, "pam_start_confdir");
            if let Some(tty) = &tty {
                assert_eq!(
                    pam_set_item(pamh, PAM_TTY, tty.as_ptr().cast()),
                    PAM_SUCCESS
                );
            }
            if let Some(rhost) = &rhost {
                assert_eq!(
                    pam_set_item(pamh, PAM_RHOST, rhost.as_ptr().cast()),
                    PAM_SUCCESS
                );
            }
            let code = pam_authenticate(pamh, self.flags);
            if code == PAM_SUCCESS {
                assert_eq!(pam_setcred(pamh, 0x2), PAM_SUCCESS, "pam_setcred");
            }
            pam_end(pamh, code);
            code
        };
        if let Some(why) = transcript.hook_failed {
            panic!("the prompt hook failed: {why}");
        }
        assert!(
            !transcript.starved,
            "the module prompted more than scripted: {:?}",
            transcript.seen
        );
        assert!(
            transcript.answers.is_empty(),
            "unused answers {:?}; the module showed {:?}",
            transcript.answers,
            transcript.seen
        );
        (code, transcript.seen)
    }
}

/// A login of `user` against the real `daemon` (`auth required` the module with `args`):
/// each phrase prompt injects the next of `typed` (key timings) into the daemon just
/// before the answer goes back, as if the user typed it then.
pub fn typed_login<'a>(
    daemon: &'a Daemon,
    user: &'a str,
    args: &str,
    answers: &[&'a str],
    typed: Vec<Typing>,
) -> Login<'a> {
    let conn = daemon.connect();
    let mut queue: VecDeque<Typing> = typed.into();
    let mut login = Login::new(args, daemon.bus_address()).answers(answers);
    login.user = user;
    login.hook(move |prompt, _| {
        if prompt.starts_with("Type the phrase: ") {
            let typing = queue.pop_front().expect("a typing for every phrase prompt");
            daemon.inject(&conn, &typing);
        }
    })
}

/// The module `cargo build --workspace` produced, or `$BEHAVIOR_PAM_MODULE` (the
/// benchmark points it at a release build).
pub fn module_path() -> PathBuf {
    match std::env::var_os("BEHAVIOR_PAM_MODULE") {
        Some(path) => PathBuf::from(path),
        None => built("libpam_behavior.so"),
    }
}

/// A bus address nobody listens on.
pub fn absent_bus(dir: &Path) -> String {
    format!("unix:path={}", dir.join("no-bus-here").display())
}

/// The scripted mock daemon, owning `org.behaviord.Behavior1` on `bus`. Killed on drop.
pub struct MockDaemon {
    child: Child,
    calls: PathBuf,
    _dir: tempfile::TempDir,
}

impl MockDaemon {
    /// `steps`: the replies, in order (see the fixture's docstring).
    pub fn start(bus: &PrivateBus, steps: serde_json::Value) -> MockDaemon {
        MockDaemon::start_as(bus.address(), steps, None)
    }

    /// As `start`, on the bus at `address`, run as `user` (through `setpriv`) when given.
    pub fn start_as(address: &str, steps: serde_json::Value, user: Option<&str>) -> MockDaemon {
        let dir = open_tempdir();
        let script = dir.path().join("script.json");
        let calls = dir.path().join("calls.log");
        std::fs::write(&script, steps.to_string()).unwrap();
        std::fs::write(&calls, "").unwrap();
        std::fs::set_permissions(&calls, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut command = match user {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={user}")).args([
                    "--regid=nogroup",
                    "--clear-groups",
                    "/usr/bin/python3",
                ]);
                c
            }
            None => Command::new("/usr/bin/python3"),
        };
        let mut child = command
            .arg(workspace_root().join("tests/fixtures/mock_behaviord.py"))
            .arg(&script)
            .arg(&calls)
            .env("DBUS_SYSTEM_BUS_ADDRESS", address)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3-dbusmock's dependencies (python3-dbus, python3-gi) are needed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY", "the mock daemon did not start");
        MockDaemon {
            child,
            calls,
            _dir: dir,
        }
    }

    /// `"Method argument"` per call received (the handle, or the user for `Begin`).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for MockDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
