//! pam_behavior.so: the PAM `auth` module of behaviord.
//!
//! Talks only to the daemon over the system D-Bus (blocking zbus proxies); no database, no
//! evdev, no async runtime in here. The login logic is [`flow::authenticate`], generic over
//! the conversation and the daemon client; this file only adapts it to libpam.
//!
//! C boundary: the `pam_sm_*` symbols come from `pam_bindings::pam_hooks!`, which checks
//! the arguments and catches any panic (`PAM_ABORT`, never success).

pub mod args;
pub mod dbus;
pub mod flow;
pub mod messages;
mod pam_io;
pub mod remote;

use std::ffi::CStr;

use pam::constants::{PamFlag, PamResultCode, PAM_DELETE_CRED, PAM_ESTABLISH_CRED, PAM_SILENT};
use pam::module::{PamHandle, PamHooks};

use crate::flow::Code;
use crate::pam_io::Confirm;

struct PamBehavior;
pam::pam_hooks!(PamBehavior);

impl PamHooks for PamBehavior {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        pam_result(pam_io::authenticate(pamh, &args, flags & PAM_SILENT != 0))
    }

    /// The module grants no credentials of its own. `PAM_ESTABLISH_CRED` comes only after
    /// the whole auth stack succeeded: it commits what this login set up (a typing pattern,
    /// a PIN); `PAM_DELETE_CRED` abandons it. Never fails the stack.
    fn sm_setcred(pamh: &mut PamHandle, _: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        if flags & PAM_ESTABLISH_CRED != 0 {
            pam_io::confirm(pamh, Confirm::Commit);
        } else if flags & PAM_DELETE_CRED != 0 {
            pam_io::confirm(pamh, Confirm::Abandon);
        }
        PamResultCode::PAM_SUCCESS
    }

    /// An `account` line: libpam runs it only after authentication succeeded, so it
    /// commits a pending enrollment too (for applications that never call setcred); it
    /// decides nothing about the account.
    fn acct_mgmt(pamh: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        pam_io::confirm(pamh, Confirm::Commit);
        PamResultCode::PAM_IGNORE
    }

    /// A `session` line: the same as the account line, for applications that open a
    /// session without setcred or account management.
    fn sm_open_session(pamh: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        pam_io::confirm(pamh, Confirm::Commit);
        PamResultCode::PAM_IGNORE
    }

    /// Not sensible with the contract: `Auth1` has no PIN change, and the self-service PIN
    /// change acts on the caller's own uid from the bus, which inside setuid `passwd` is
    /// root, not the user. Users run `behaviorctl set-pin`; `passwd` flows are left to the
    /// other modules.
    fn sm_chauthtok(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_IGNORE
    }
}

fn pam_result(code: Code) -> PamResultCode {
    match code {
        Code::Success => PamResultCode::PAM_SUCCESS,
        Code::AuthErr => PamResultCode::PAM_AUTH_ERR,
        Code::MaxTries => PamResultCode::PAM_MAXTRIES,
        Code::AuthInfoUnavail => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        Code::UserUnknown => PamResultCode::PAM_USER_UNKNOWN,
        Code::Ignore => PamResultCode::PAM_IGNORE,
        Code::ConvErr => PamResultCode::PAM_CONV_ERR,
    }
}
