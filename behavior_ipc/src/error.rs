//! Errors every method may return, as `org.behaviord.Error.<Variant>` D-Bus errors.

use zbus::DBusError;

#[derive(DBusError, Debug)]
#[zbus(prefix = "org.behaviord.Error")]
pub enum Error {
    /// A transport-level failure (not sent by the daemon).
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The caller may not call this method (or not for this user).
    AccessDenied(String),
    /// No such user on this system.
    UnknownUser(String),
    /// An argument is malformed, too long or out of range.
    InvalidArgument(String),
    /// The handle is unknown, finished, timed out or belongs to another caller.
    NoSuchHandle(String),
    /// The call is not valid at this stage of the authentication.
    WrongStage(String),
    /// The user has no typing pattern (or PIN) and the policy does not allow enrolling one.
    NotEnrolled(String),
    /// Too many failures: the user is locked out until the time given in the message.
    LockedOut(String),
    /// The policy forbids this (remote login denied, skip not allowed, ...).
    PolicyDenied(String),
    /// The login is not typed on this machine's keyboards (remote, or a terminal that
    /// belongs to no local seat): typing timings cannot be had.
    Remote(String),
    /// The login is refused though nothing was typed wrong: the user's typing pattern or
    /// PIN cannot be read (a corrupt row), so no factor can be judged.
    Refused(String),
    /// The database could not be read or written; nothing was changed.
    Storage(String),
    /// The daemon cannot serve the request right now (no keyboard, shutting down, ...).
    Unavailable(String),
}
