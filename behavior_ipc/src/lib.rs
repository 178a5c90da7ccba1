//! The behaviord D-Bus contract, written once and shared by the daemon, the PAM module and
//! `behaviorctl`.
//!
//! Bus name [`BUS_NAME`] on the system bus (tests point `DBUS_SYSTEM_BUS_ADDRESS` at a
//! private bus). Interfaces are versioned; a breaking change means a new interface name.
//! Errors are D-Bus errors named `org.behaviord.Error.*` carrying a human sentence.
//!
//! This crate has no async runtime of its own: zbus's `blocking` proxies are used by the
//! PAM module, the async ones by the daemon's tests and `behaviorctl`.

pub mod admin;
pub mod auth;
pub mod error;
pub mod test;
pub mod user;

pub use error::Error;

/// Well-known name the daemon owns on the system bus (only root may own it: `etc/dbus-1`).
pub const BUS_NAME: &str = "org.behaviord.Behavior1";
/// Object that implements [`auth::AUTH_INTERFACE`].
pub const AUTH_PATH: &str = "/org/behaviord/Auth";
/// Object that implements [`admin::ADMIN_INTERFACE`].
pub const ADMIN_PATH: &str = "/org/behaviord/Admin";
/// Object that implements [`user::USER_INTERFACE`].
pub const USER_PATH: &str = "/org/behaviord/User";
/// Object that implements [`test::TEST_INTERFACE`] (only with `behaviord --test-input`).
pub const TEST_PATH: &str = "/org/behaviord/Test";
/// Upper bound for any string argument; longer ones are refused as `InvalidArgument`.
pub const MAX_STRING_LEN: usize = 1024;
