//! libpam side of the module: PAM items, the application's conversation function and
//! `pam_syslog`, adapted to the traits of [`crate::flow`].

use std::ffi::{c_char, c_int, CStr, CString};

use pam::constants::{PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_TEXT_INFO};
use pam::conv::Conv;
use pam::items::{RHost, Service, Tty};
use pam::module::PamHandle;
use zeroize::Zeroizing;

use crate::args;
use crate::dbus::DbusDaemon;
use crate::flow::{self, Code, ConvError, Conversation, DaemonClient, Log, Login};

/// `PAM_DATA_SILENT` (security/_pam_types.h): the cleanup runs in a forked child.
const PAM_DATA_SILENT: c_int = 0x4000_0000;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
    fn pam_set_data(
        pamh: *mut PamHandle,
        name: *const c_char,
        data: *mut libc::c_void,
        cleanup: extern "C" fn(*mut PamHandle, *mut libc::c_void, c_int),
    ) -> c_int;
    fn pam_get_data(
        pamh: *const PamHandle,
        name: *const c_char,
        data: *mut *const libc::c_void,
    ) -> c_int;
}

/// Key of the pending enrollment in the PAM handle's data.
const PENDING_KEY: &CStr = c"pam_behavior/pending";

pub fn authenticate(pamh: &mut PamHandle, args: &[&CStr], silent: bool) -> Code {
    // A second pam_authenticate on the same handle (login retries) starts afresh: what an
    // earlier attempt set up is dropped, and the daemon forgets it with the connection.
    set_pending(pamh, None);
    let settings = match settings(pamh, args) {
        Ok(settings) => settings,
        Err(code) => return code,
    };

    let user = match pamh.get_user(None) {
        Ok(user) => user,
        Err(e) => {
            syslog(
                pamh,
                libc::LOG_ERR,
                &format!("cannot get the user name: {e:?}"),
            );
            return Code::UserUnknown;
        }
    };
    let service = item_string::<Service>(pamh).unwrap_or_default();
    let (tty, rhost) = (item_string::<Tty>(pamh), item_string::<RHost>(pamh));
    let login = Login {
        user: &user,
        service: &service,
        tty: tty.as_deref().unwrap_or(""),
        rhost: rhost.as_deref().unwrap_or(""),
        items_unreadable: tty.is_none() || rhost.is_none(),
    };

    let verdict = {
        let pamh: &PamHandle = pamh;
        let mut log = PamLog {
            pamh,
            debug: settings.debug,
        };
        let conv = match pamh.get_item::<Conv>() {
            Ok(Some(conv)) => conv,
            _ => {
                log.log("the application gave no conversation function");
                return Code::ConvErr;
            }
        };
        let mut conv = PamConversation { conv, silent };
        let mut daemon = DbusDaemon::new(settings.timeout);
        let verdict = flow::authenticate(&mut conv, &mut daemon, &mut log, &settings, &login);
        (verdict.code, verdict.pending.map(|handle| (handle, daemon)))
    };
    let (code, pending) = verdict;
    if let Some((handle, daemon)) = pending {
        set_pending(
            pamh,
            Some(Pending {
                daemon,
                handle,
                user,
                debug: settings.debug,
            }),
        );
    }
    code
}

/// The module's settings; a policy file that cannot be understood refuses the login
/// (`PAM_AUTH_ERR`), since its `fail` and `deny_remote` cannot be known.
fn settings(pamh: &PamHandle, args: &[&CStr]) -> Result<args::Settings, Code> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let parsed = args::parse(&args, |path| std::fs::read_to_string(path));
    for warning in &parsed.warnings {
        syslog(pamh, libc::LOG_WARNING, warning);
    }
    if let Some(error) = &parsed.policy_error {
        syslog(
            pamh,
            libc::LOG_ERR,
            &format!("{error}: the policy cannot be read, so every login is refused"),
        );
        return Err(Code::AuthErr);
    }
    Ok(parsed.settings)
}

/// A string item: `Some("")` when unset, `None` when set but not UTF-8.
fn item_string<'a, T>(pamh: &'a PamHandle) -> Option<String>
where
    T: pam::items::Item<'a> + std::ops::Deref<Target = &'a CStr>,
{
    match pamh.get_item::<T>() {
        Ok(Some(item)) => item.to_str().ok().map(str::to_string),
        _ => Some(String::new()),
    }
}

/// What a login set up, held on the PAM handle until a later hook confirms that the whole
/// stack authenticated the user (see [`confirm`]). Keeps the daemon connection: the daemon
/// binds the pending handle to it and forgets it when the connection closes.
struct Pending {
    daemon: DbusDaemon,
    handle: String,
    user: String,
    debug: bool,
}

/// Replaces the pending enrollment on the handle (`None`: drops it).
fn set_pending(pamh: &mut PamHandle, pending: Option<Pending>) {
    let data = pending.map_or(std::ptr::null_mut(), |p| {
        Box::into_raw(Box::new(std::sync::Mutex::new(Some(p)))).cast::<libc::c_void>()
    });
    // SAFETY: pamh is the live handle; the key is NUL-terminated; `data` is null or a
    // leaked Box<PendingCell> that `cleanup_pending` alone frees.
    let rc = unsafe { pam_set_data(pamh, PENDING_KEY.as_ptr(), data, cleanup_pending) };
    if rc != 0 && !data.is_null() {
        // SAFETY: libpam did not take it: it is still ours to free.
        drop(unsafe { Box::from_raw(data.cast::<PendingCell>()) });
    }
}

type PendingCell = std::sync::Mutex<Option<Pending>>;

/// libpam's cleanup of the pending data: at `pam_end`, on replacement, or in a forked child.
/// `PAM_DATA_SILENT` marks a forked child (the parent still owns the connection): the value
/// is forgotten, never dropped, so the child does not touch the parent's connection.
extern "C" fn cleanup_pending(_: *mut PamHandle, data: *mut libc::c_void, status: c_int) {
    if data.is_null() {
        return;
    }
    // SAFETY: non-null data under this key is always a Box<PendingCell> from set_pending.
    let cell = unsafe { Box::from_raw(data.cast::<PendingCell>()) };
    if status & PAM_DATA_SILENT != 0 {
        std::mem::forget(cell);
        return;
    }
    // A panic in a drop must not unwind into libpam.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(cell)));
}

/// Takes the pending enrollment off the handle, if there is one.
fn take_pending(pamh: &PamHandle) -> Option<Pending> {
    let mut data: *const libc::c_void = std::ptr::null();
    // SAFETY: pamh is live; the key is NUL-terminated; `data` receives a pointer owned by
    // libpam (a Box<PendingCell> from set_pending, or null).
    let rc = unsafe { pam_get_data(pamh, PENDING_KEY.as_ptr(), &mut data) };
    if rc != 0 || data.is_null() {
        return None;
    }
    // SAFETY: see above; the cell stays owned by libpam, we only take its content.
    let cell = unsafe { &*data.cast::<PendingCell>() };
    cell.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// What a later hook does with a pending enrollment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// The stack authenticated the user: store it.
    Commit,
    /// The application deletes the credentials: forget it.
    Abandon,
}

/// Commits or abandons what this handle's login set up. Called from `pam_sm_setcred`
/// (`PAM_ESTABLISH_CRED` / `PAM_DELETE_CRED`), `pam_sm_acct_mgmt` and
/// `pam_sm_open_session`: applications call these only after `pam_authenticate` of the
/// whole stack succeeded. The first to run commits; a user changed since (`PAM_USER`)
/// commits nothing. Never fails the stack: a failed commit is logged, and the user simply
/// enrolls again at the next login.
pub fn confirm(pamh: &PamHandle, what: Confirm) {
    let Some(mut pending) = take_pending(pamh) else {
        return;
    };
    let user = item_string::<pam::items::User>(pamh).unwrap_or_default();
    let what = if user == pending.user {
        what
    } else {
        syslog(
            pamh,
            libc::LOG_WARNING,
            &format!(
                "PAM_USER changed from {:?} to {user:?} after authentication: the enrollment of {:?} is not stored",
                pending.user, pending.user
            ),
        );
        Confirm::Abandon
    };
    pending.daemon.renew_budget();
    let handle = pending.handle.clone();
    let result = match what {
        Confirm::Commit => pending.daemon.commit(&handle),
        Confirm::Abandon => pending.daemon.abandon(&handle),
    };
    match result {
        Ok(()) if pending.debug => syslog(
            pamh,
            libc::LOG_DEBUG,
            &format!("enrollment of {:?}: {what:?} done", pending.user),
        ),
        Ok(()) => {}
        Err(e) => syslog(
            pamh,
            libc::LOG_WARNING,
            &format!(
                "enrollment of {:?} not stored ({what:?}): {e}",
                pending.user
            ),
        ),
    }
}

struct PamConversation<'a> {
    conv: Conv<'a>,
    /// `PAM_SILENT`: informational and error lines are not shown.
    silent: bool,
}

impl PamConversation<'_> {
    fn prompt(&mut self, style: c_int, prompt: &str) -> Result<Zeroizing<String>, ConvError> {
        match self.conv.send(style, prompt) {
            // SecretBytes zeroes its copy on drop; the String is zeroed by Zeroizing.
            Ok(Some(answer)) => answer
                .as_str()
                .map(|s| Zeroizing::new(s.to_string()))
                .map_err(|_| ConvError),
            Ok(None) | Err(_) => Err(ConvError),
        }
    }

    fn show(&mut self, style: c_int, text: &str) {
        if !self.silent {
            let _ = self.conv.send(style, text);
        }
    }
}

impl Conversation for PamConversation<'_> {
    fn prompt_echo_on(&mut self, prompt: &str) -> Result<Zeroizing<String>, ConvError> {
        self.prompt(PAM_PROMPT_ECHO_ON, prompt)
    }
    fn prompt_echo_off(&mut self, prompt: &str) -> Result<Zeroizing<String>, ConvError> {
        self.prompt(PAM_PROMPT_ECHO_OFF, prompt)
    }
    fn info(&mut self, text: &str) {
        self.show(PAM_TEXT_INFO, text);
    }
    fn error(&mut self, text: &str) {
        self.show(PAM_ERROR_MSG, text);
    }
}

/// Flow lines go to syslog (authpriv, through `pam_syslog`) only with `debug`.
struct PamLog<'a> {
    pamh: &'a PamHandle,
    debug: bool,
}

impl Log for PamLog<'_> {
    fn log(&mut self, line: &str) {
        if self.debug {
            syslog(self.pamh, libc::LOG_DEBUG, line);
        }
    }
    fn notice(&mut self, line: &str) {
        syslog(self.pamh, libc::LOG_NOTICE, line);
    }
}

fn syslog(pamh: &PamHandle, priority: c_int, line: &str) {
    let Ok(line) = CString::new(line.replace('\0', "?")) else {
        return;
    };
    // SAFETY: pamh is live; the format is a literal "%s" taking exactly the one
    // NUL-terminated string passed.
    unsafe { pam_syslog(pamh, priority, c"%s".as_ptr(), line.as_ptr()) };
}
