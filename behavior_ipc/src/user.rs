//! `org.behaviord.User1` at [`crate::USER_PATH`]: self-service for any local user, always
//! about the caller's own uid (learnt from the bus, never from an argument).

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

use crate::Error;

pub const USER_INTERFACE: &str = "org.behaviord.User1";

/// Reply of `Status`. Times are ms since the Unix epoch, 0 for "none".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct SelfStatus {
    pub user: String,
    pub enrolled: bool,
    pub enrolled_at_ms: i64,
    pub template_expires_ms: i64,
    pub pin_set: bool,
    /// Digits a new PIN must have.
    pub pin_length: u32,
    pub locked_until_ms: i64,
}

#[zbus::proxy(
    interface = "org.behaviord.User1",
    default_service = "org.behaviord.Behavior1",
    default_path = "/org/behaviord/User"
)]
pub trait User {
    fn status(&self) -> Result<SelfStatus, Error>;

    /// Replaces the caller's PIN after checking `current`. A wrong `current` is
    /// `AccessDenied` and counts towards the lockout; `NotEnrolled` when no PIN is set.
    fn change_pin(&self, current: &str, new: &str) -> Result<(), Error>;
}
