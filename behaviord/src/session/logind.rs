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
    #[zbus(name = "GetSessionByPID")]
    fn get_session_by_pid(&self, pid: u32) -> zbus::Result<OwnedObjectPath>;
    fn lock_session(&self, id: &str) -> zbus::Result<()>;
    fn terminate_session(&self, id: &str) -> zbus::Result<()>;
}

/// What the monitor needs to know of one logind session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub path: OwnedObjectPath,
    pub user: String,
    /// Empty for sessions without a seat (ssh, cron, ...).
    pub seat: String,
    pub active: bool,
    pub remote: bool,
    /// `user` (or `user-light`, `user-early`, ...), `greeter`, `lock-screen`,
    /// `background`, `manager`, ...
    pub class: String,
    pub locked: bool,
}

impl SessionInfo {
    /// Whether typing in this session is the user's own at a local keyboard: a user
    /// session on a seat (any type: tty, x11, wayland), not remote (a remote session's
    /// keys are not on this machine's keyboards), not a greeter or lock screen.
    pub fn is_local_user_session(&self) -> bool {
        let user_class = self.class == "user" || self.class.starts_with("user-");
        !self.remote && !self.seat.is_empty() && user_class
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
    let (seat, _): (String, OwnedObjectPath) = get("Seat").and_then(|v| {
        <(String, OwnedObjectPath)>::try_from(v.clone()).map_err(|_| missing("Seat"))
    })?;
    Ok(SessionInfo {
        id: string("Id")?,
        path: path.clone(),
        user: string("Name")?,
        seat,
        active: boolean("Active")?,
        remote: boolean("Remote")?,
        class: string("Class")?,
        // Older logind has no LockedHint: then only the Lock/Unlock signals tell.
        locked: boolean("LockedHint").unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value;

    fn signal<B>(path: &str, iface: &str, member: &str, body: &B) -> Message
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        Message::signal(path, iface, member)
            .unwrap()
            .build(body)
            .unwrap()
    }

    fn opath(p: &str) -> OwnedObjectPath {
        OwnedObjectPath::try_from(p).unwrap()
    }

    #[test]
    fn manager_signals() {
        let path = "/org/freedesktop/login1/session/_32";
        let m = signal(ROOT, MANAGER, "SessionNew", &("2", opath(path)));
        assert_eq!(
            parse_signal(&m),
            Some(LogindEvent::SessionNew {
                id: "2".into(),
                path: opath(path)
            })
        );
        let m = signal(ROOT, MANAGER, "SessionRemoved", &("2", opath(path)));
        assert_eq!(
            parse_signal(&m),
            Some(LogindEvent::SessionRemoved { id: "2".into() })
        );
        let m = signal(ROOT, MANAGER, "PrepareForSleep", &(true,));
        assert_eq!(parse_signal(&m), Some(LogindEvent::Sleep(true)));
        // Signals the monitor does not use, and malformed ones, are nothing.
        let m = signal(ROOT, MANAGER, "UserNew", &(1000u32, opath("/x")));
        assert_eq!(parse_signal(&m), None);
        let m = signal(ROOT, MANAGER, "PrepareForSleep", &("yes",));
        assert_eq!(parse_signal(&m), None);
    }

    #[test]
    fn session_signals_and_property_changes() {
        let path = "/org/freedesktop/login1/session/c1";
        let m = signal(path, SESSION, "Lock", &());
        assert_eq!(
            parse_signal(&m),
            Some(LogindEvent::Lock { path: opath(path) })
        );
        let m = signal(path, SESSION, "Unlock", &());
        assert_eq!(
            parse_signal(&m),
            Some(LogindEvent::Unlock { path: opath(path) })
        );
        let props = "org.freedesktop.DBus.Properties";
        let changed: HashMap<&str, Value> = [
            ("Active", Value::from(false)),
            ("IdleHint", Value::from(true)),
        ]
        .into();
        let m = signal(
            path,
            props,
            "PropertiesChanged",
            &(SESSION, changed, vec!["LockedHint"]),
        );
        assert_eq!(
            parse_signal(&m),
            Some(LogindEvent::Changed {
                path: opath(path),
                active: Some(Some(false)),
                locked: Some(None),
            })
        );
        // Nothing the monitor follows changed; or another interface's properties.
        let idle: HashMap<&str, Value> = [("IdleHint", Value::from(true))].into();
        let m = signal(
            path,
            props,
            "PropertiesChanged",
            &(SESSION, idle, Vec::<&str>::new()),
        );
        assert_eq!(parse_signal(&m), None);
        let active: HashMap<&str, Value> = [("Active", Value::from(true))].into();
        let m = signal(
            "/org/freedesktop/login1/seat/seat0",
            props,
            "PropertiesChanged",
            &("org.freedesktop.login1.Seat", active, Vec::<&str>::new()),
        );
        assert_eq!(parse_signal(&m), None);
    }

    #[test]
    fn only_local_user_sessions_on_a_seat_are_monitored() {
        let base = SessionInfo {
            id: "c1".into(),
            path: opath("/org/freedesktop/login1/session/c1"),
            user: "alice".into(),
            seat: "seat0".into(),
            active: true,
            remote: false,
            class: "user".into(),
            locked: false,
        };
        assert!(base.is_local_user_session());
        let light = SessionInfo {
            class: "user-light".into(),
            ..base.clone()
        };
        assert!(light.is_local_user_session());
        let remote = SessionInfo {
            remote: true,
            ..base.clone()
        };
        let seatless = SessionInfo {
            seat: String::new(),
            ..base.clone()
        };
        let greeter = SessionInfo {
            class: "greeter".into(),
            ..base.clone()
        };
        let background = SessionInfo {
            class: "background".into(),
            ..base.clone()
        };
        for s in [remote, seatless, greeter, background] {
            assert!(!s.is_local_user_session(), "{s:?}");
        }
    }
}
