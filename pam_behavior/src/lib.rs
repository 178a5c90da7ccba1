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

/// The argument that makes an `account` or `session` line commit a pending enrollment.
pub const COMMIT_ARG: &str = "commit";

struct PamBehavior;
pam::pam_hooks!(PamBehavior);

impl PamHooks for PamBehavior {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        pam_result(pam_io::authenticate(pamh, &args, flags & PAM_SILENT != 0))
    }

    /// The module grants no credentials of its own. `PAM_ESTABLISH_CRED` comes only after
    /// the whole auth stack succeeded, and libpam runs it along the path the last
    /// authentication took (a retry that jumped over this module skips its setcred too):
    /// it commits what this login set up (a typing pattern, a PIN); `PAM_DELETE_CRED`
    /// abandons it. Never fails the stack.
    fn sm_setcred(pamh: &mut PamHandle, _: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        if flags & PAM_ESTABLISH_CRED != 0 {
            pam_io::confirm(pamh, Confirm::Commit);
        } else if flags & PAM_DELETE_CRED != 0 {
            pam_io::confirm(pamh, Confirm::Abandon);
        }
        PamResultCode::PAM_SUCCESS
    }

    /// An `account` line decides nothing. With [`COMMIT_ARG`] it commits a pending
    /// enrollment, for applications that never call setcred (pamtester): the account stack
    /// does not know which path the authentication took, so a retried attempt that jumped
    /// over this module would commit the earlier attempt's enrollment; use it only where
    /// nothing before the module in the auth stack can succeed and skip it.
    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        if args.iter().any(|a| a.to_bytes() == COMMIT_ARG.as_bytes()) {
            pam_io::confirm(pamh, Confirm::Commit);
        }
        PamResultCode::PAM_IGNORE
    }

    /// A `session` line: as the account line.
    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        if args.iter().any(|a| a.to_bytes() == COMMIT_ARG.as_bytes()) {
            pam_io::confirm(pamh, Confirm::Commit);
        }
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
