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

use pam::constants::{PamFlag, PamResultCode, PAM_SILENT};
use pam::module::{PamHandle, PamHooks};

use crate::flow::Code;

struct PamBehavior;
pam::pam_hooks!(PamBehavior);

impl PamHooks for PamBehavior {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        pam_result(pam_io::authenticate(pamh, &args, flags & PAM_SILENT != 0))
    }

    /// Nothing to establish: the module grants no credentials of its own.
    fn sm_setcred(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
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
