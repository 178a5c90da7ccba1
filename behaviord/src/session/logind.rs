//! logind (`org.freedesktop.login1`) as the monitor needs it: the sessions with their user,
//! seat and state, the signals that change them, and the two responses (lock, terminate).
//!
//! All signals come through one match rule (every signal logind sends under its object
//! tree), subscribed before the sessions are listed so no change falls between the two.

use std::collections::HashMap;
use zbus::fdo::PropertiesProxy;
use zbus::names::InterfaceName;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};
use zbus::{Connection, MatchRule, Message, MessageStream};

const BUS_NAME: &str = "org.freedesktop.login1";
const ROOT: &str = "/org/freedesktop/login1";
const MANAGER: &str = "org.freedesktop.login1.Manager";
const SESSION: &str = "org.freedesktop.login1.Session";

/// A row of `ListSessions`: id, uid, user name, seat id, object path.
pub type SessionRow = (String, u32, String, String, OwnedObjectPath);

#[zbus::proxy(
    interface = "org.freedesktop.login1.Manager",
    default_service = "org.freedesktop.login1",
    default_path = "/org/freedesktop/login1"
)]
pub trait Manager {
    fn list_sessions(&self) -> zbus::Result<Vec<SessionRow>>;
    fn lock_session(&self, id: &str) -> zbus::Result<()>;
    fn terminate_session(&self, id: &str) -> zbus::Result<()>;
}

/// What the monitor needs to know of one logind session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub path: OwnedObjectPath,
    pub user: String,
    pub uid: u32,
    /// Empty for sessions without a seat (ssh, cron, ...).
    pub seat: String,
    pub active: bool,
    pub remote: bool,
    /// `user`, `greeter`, `lock-screen`, `background`, ...
    pub class: String,
    /// `x11`, `wayland`, `tty`, `unspecified`, ...
    pub kind: String,
    pub locked: bool,
}

impl SessionInfo {
    /// Whether typing in this session is the user's own at a local keyboard: a user
    /// session on a seat, not remote (a remote session's keys are not on this machine's
    /// keyboards), not a greeter or lock screen.
    pub fn is_local_user_session(&self) -> bool {
        !self.remote && !self.seat.is_empty() && self.class == "user"
    }
}

/// A change logind announced.
#[derive(Clone, Debug, PartialEq)]
pub enum LogindEvent {
    SessionNew {
        id: String,
        path: OwnedObjectPath,
    },
    SessionRemoved {
        id: String,
    },
    /// `PrepareForSleep(true)` / `(false)`.
    Sleep(bool),
    /// Properties of the session at `path` changed: the new values known (`None`: changed
    /// but not sent, read them again).
    Changed {
        path: OwnedObjectPath,
        active: Option<Option<bool>>,
        locked: Option<Option<bool>>,
    },
    /// The session's `Lock` / `Unlock` signal.
    Lock {
        path: OwnedObjectPath,
    },
    Unlock {
        path: OwnedObjectPath,
    },
}

/// Subscribes to every signal logind sends under its object tree.
pub async fn subscribe(conn: &Connection) -> zbus::Result<MessageStream> {
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(BUS_NAME)?
        .path_namespace(ROOT)?
        .build();
    MessageStream::for_match_rule(rule, conn, Some(1024)).await
}

/// The logind event a signal carries, if it is one the monitor uses.
pub fn parse_signal(msg: &Message) -> Option<LogindEvent> {
    let header = msg.header();
    let path = OwnedObjectPath::from(header.path()?.to_owned());
    let interface = header.interface()?.as_str();
    let member = header.member()?.as_str();
    let body = msg.body();
    match (interface, member) {
        (MANAGER, "SessionNew") => {
            let (id, path): (String, OwnedObjectPath) = body.deserialize().ok()?;
            Some(LogindEvent::SessionNew { id, path })
        }
        (MANAGER, "SessionRemoved") => {
            let (id, _): (String, OwnedObjectPath) = body.deserialize().ok()?;
            Some(LogindEvent::SessionRemoved { id })
        }
        (MANAGER, "PrepareForSleep") => body.deserialize().ok().map(LogindEvent::Sleep),
        (SESSION, "Lock") => Some(LogindEvent::Lock { path }),
        (SESSION, "Unlock") => Some(LogindEvent::Unlock { path }),
        ("org.freedesktop.DBus.Properties", "PropertiesChanged") => {
            let (iface, changed, invalidated): (String, HashMap<String, OwnedValue>, Vec<String>) =
                body.deserialize().ok()?;
            if iface != SESSION {
                return None;
            }
            let field = |name: &str| {
                if let Some(v) = changed.get(name) {
                    Some(bool::try_from(v).ok())
                } else if invalidated.iter().any(|n| n == name) {
                    Some(None)
                } else {
                    None
                }
            };
            let (active, locked) = (field("Active"), field("LockedHint"));
            if active.is_none() && locked.is_none() {
                return None;
            }
            Some(LogindEvent::Changed {
                path,
                active,
                locked,
            })
        }
        _ => None,
    }
}

/// Reads a session's properties.
pub async fn session_info(conn: &Connection, path: &OwnedObjectPath) -> zbus::Result<SessionInfo> {
    let props = PropertiesProxy::builder(conn)
        .destination(BUS_NAME)?
        .path(path.clone())?
        .build()
        .await?;
    let all = props
        .get_all(InterfaceName::from_static_str_unchecked(SESSION))
        .await?;
    let missing = |name: &str| {
        zbus::Error::Failure(format!(
            "logind session {} has no usable property {name}",
            path.as_str()
        ))
    };
    let get = |name: &'static str| all.get(name).ok_or_else(|| missing(name));
    let string = |name: &'static str| {
        get(name).and_then(|v| String::try_from(v.clone()).map_err(|_| missing(name)))
    };
    let boolean =
        |name: &'static str| get(name).and_then(|v| bool::try_from(v).map_err(|_| missing(name)));
    let (uid, _): (u32, OwnedObjectPath) = get("User")
        .and_then(|v| <(u32, OwnedObjectPath)>::try_from(v.clone()).map_err(|_| missing("User")))?;
    let (seat, _): (String, OwnedObjectPath) = get("Seat").and_then(|v| {
        <(String, OwnedObjectPath)>::try_from(v.clone()).map_err(|_| missing("Seat"))
    })?;
    Ok(SessionInfo {
        id: string("Id")?,
        path: path.clone(),
        user: string("Name")?,
        uid,
        seat,
        active: boolean("Active")?,
        remote: boolean("Remote")?,
        class: string("Class")?,
        kind: string("Type")?,
        // Older logind has no LockedHint: then only the Lock/Unlock signals tell.
        locked: boolean("LockedHint").unwrap_or(false),
    })
}
