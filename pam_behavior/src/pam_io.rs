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
use crate::flow::{self, Code, ConvError, Conversation, Log, Login};
use crate::remote;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
    fn pam_getenv(pamh: *mut PamHandle, name: *const c_char) -> *const c_char;
}

pub fn authenticate(pamh: &mut PamHandle, args: &[&CStr], silent: bool) -> Code {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let parsed = args::parse(&args, |path| std::fs::read_to_string(path));
    for warning in &parsed.warnings {
        syslog(pamh, libc::LOG_WARNING, warning);
    }
    let settings = parsed.settings;

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
    let local_seat = local_seat(pamh);
    let service = item_string::<Service>(pamh);
    let tty = item_string::<Tty>(pamh);
    let rhost = item_string::<RHost>(pamh);
    let login = Login {
        user: &user,
        service: &service,
        tty: &tty,
        rhost: &rhost,
        local_seat,
    };

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
    flow::authenticate(&mut conv, &mut daemon, &mut log, &settings, &login)
}

/// A string item, empty when unset or not UTF-8.
fn item_string<'a, T>(pamh: &'a PamHandle) -> String
where
    T: pam::items::Item<'a> + std::ops::Deref<Target = &'a CStr>,
{
    match pamh.get_item::<T>() {
        Ok(Some(item)) => item.to_str().unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// `XDG_SEAT` from the PAM environment or, failing that, the process (a terminal window
/// inside a local graphical session has it; an ssh login has not). In a process that gained
/// privileges through exec (setuid `su`, `sudo`) the process environment is the invoking
/// user's to set, so there the claim counts only if logind's record of the session named by
/// `XDG_SESSION_ID` is that user's and on a seat.
fn local_seat(pamh: &mut PamHandle) -> bool {
    let name = c"XDG_SEAT";
    // SAFETY: pamh is the live handle libpam passed in; the name is NUL-terminated; the
    // returned string (if any) is owned by libpam and only read here.
    let value = unsafe { pam_getenv(pamh, name.as_ptr()) };
    if !value.is_null() {
        // SAFETY: non-null results of pam_getenv are NUL-terminated strings.
        let value = unsafe { CStr::from_ptr(value) };
        return !value.is_empty();
    }
    let claimed = std::env::var_os("XDG_SEAT").is_some_and(|v| !v.is_empty());
    if !claimed || !crate::dbus::secure_exec() {
        return claimed;
    }
    let Some(id) = std::env::var("XDG_SESSION_ID")
        .ok()
        .filter(|id| remote::is_session_id(id))
    else {
        return false;
    };
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::fs::read_to_string(format!("/run/systemd/sessions/{id}"))
        .is_ok_and(|record| remote::logind_session_is_local(&record, uid))
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
}

fn syslog(pamh: &PamHandle, priority: c_int, line: &str) {
    let Ok(line) = CString::new(line.replace('\0', "?")) else {
        return;
    };
    // SAFETY: pamh is live; the format is a literal "%s" taking exactly the one
    // NUL-terminated string passed.
    unsafe { pam_syslog(pamh, priority, c"%s".as_ptr(), line.as_ptr()) };
}
