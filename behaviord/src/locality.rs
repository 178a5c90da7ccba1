//! Where a login is typed: on one of this machine's seats, or not here at all.
//!
//! The caller's word (`PAM_TTY`, `PAM_RHOST`, `XDG_*` variables) is not enough: an ssh user
//! running `su` sets all of them. What the caller cannot fake is its own process: the bus
//! tells its PID (`GetConnectionUnixProcessID`), and logind which session that process
//! belongs to (`GetSessionByPID`) and whether that session is remote and on which seat.
//! The PAM application itself is the caller, so that is the login's own session.
//!
//! Without a session for the process (`login` started by getty, sshd before its session
//! opens) or without logind (a container), only a virtual console (`ttyN`, `/dev/ttyN`)
//! with no remote host counts as local, on seat0: a VT is opened by the console's owner,
//! not by someone over the network.

use std::time::Duration;

use behavior_ipc::Error;
use zbus::Connection;

use crate::service::State;
use crate::session::logind::{self, ManagerProxy, SessionInfo};

/// The seat of keyboards udev assigns no other (and of logins judged local without logind).
pub const DEFAULT_SEAT: &str = "seat0";

/// How long `Begin` waits for the bus and logind to answer.
pub const LOGIND_TIMEOUT: Duration = Duration::from_secs(3);

/// What logind said of the calling process.
#[derive(Clone, Debug, PartialEq)]
pub enum Logind {
    /// The process belongs to this session.
    Session(SessionInfo),
    /// logind runs but the process is in no session.
    NoSession,
    /// No logind on the bus.
    Absent,
}

/// Where the login is typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locality {
    /// On this seat's keyboards.
    Local { seat: String },
    /// Not on this machine's keyboards; says why, for the caller.
    Remote(String),
}

/// Pure: the login's locality from logind's answer, the PAM tty and the remote host.
pub fn decide(logind: &Logind, tty: &str, rhost: &str) -> Locality {
    if !rhost.is_empty() {
        return Locality::Remote(format!("the login comes from the remote host {rhost:?}"));
    }
    match logind {
        Logind::Session(s) if s.remote => {
            Locality::Remote(format!("logind session {} is remote", s.id))
        }
        Logind::Session(s) if s.seat.is_empty() => {
            Locality::Remote(format!("logind session {} has no seat", s.id))
        }
        Logind::Session(s) => Locality::Local {
            seat: s.seat.clone(),
        },
        Logind::NoSession | Logind::Absent if is_virtual_console(tty) => Locality::Local {
            seat: DEFAULT_SEAT.to_string(),
        },
        Logind::NoSession => Locality::Remote(format!(
            "the caller is in no logind session and tty {tty:?} is not a virtual console"
        )),
        Logind::Absent => Locality::Remote(format!(
            "without logind only a virtual console counts as local, and tty {tty:?} is not one"
        )),
    }
}

/// Pure: where a `User1` trial (`behaviorctl try`, which names no terminal) is typed. Only a
/// local logind session on a seat counts, or a machine without logind (seat0); a process in
/// no session (a `systemd-run --user` unit, a cron job) is not at the keyboard.
pub fn decide_trial(logind: &Logind) -> Locality {
    match logind {
        Logind::Session(_) => decide(logind, "", ""),
        Logind::NoSession => Locality::Remote("the caller is in no logind session".into()),
        Logind::Absent => Locality::Local {
            seat: DEFAULT_SEAT.to_string(),
        },
    }
}

/// `ttyN` or `/dev/ttyN` with N in 1..=63 (not `tty0`, the current console's alias, nor
/// serial lines `ttyS0`, nor pseudo-terminals).
pub fn is_virtual_console(tty: &str) -> bool {
    let name = tty.strip_prefix("/dev/").unwrap_or(tty);
    let Some(n) = name.strip_prefix("tty") else {
        return false;
    };
    !n.starts_with('0')
        && n.bytes().all(|b| b.is_ascii_digit())
        && n.parse::<u8>().is_ok_and(|n| (1..=63).contains(&n))
}

/// The seat the bus caller with process id `pid` (`None`: the bus did not say) types on,
/// as `rule` ([`decide`] for a login, [`decide_trial`]) makes of logind's answer, or the
/// error to answer (`Remote`, or `PolicyDenied` under `deny_remote`).
pub async fn login_seat(
    st: &State,
    pid: Option<u32>,
    rule: impl FnOnce(&Logind) -> Locality,
    deny_remote: bool,
) -> Result<String, Error> {
    let conn = st
        .connection()
        .ok_or_else(|| Error::Unavailable("behaviord is starting".into()))?;
    let pid = pid.ok_or_else(|| {
        Error::Unavailable(
            "cannot tell where the login is typed: the bus did not give the caller's process"
                .into(),
        )
    })?;
    let asked = st
        .rt
        .spawn(async move { tokio::time::timeout(LOGIND_TIMEOUT, ask_logind(&conn, pid)).await })
        .await;
    let logind = match asked {
        Ok(Ok(Ok(logind))) => logind,
        Ok(Ok(Err(why))) => {
            return Err(Error::Unavailable(format!(
                "cannot tell where the login is typed: {why}"
            )))
        }
        Ok(Err(_)) => {
            return Err(Error::Unavailable(format!(
                "cannot tell where the login is typed: logind did not answer within {} s",
                LOGIND_TIMEOUT.as_secs()
            )))
        }
        Err(_) => return Err(Error::Unavailable("internal task failed".into())),
    };
    match rule(&logind) {
        Locality::Local { seat } => Ok(seat),
        Locality::Remote(why) if deny_remote => Err(Error::PolicyDenied(format!(
            "remote logins are denied by policy ({why})"
        ))),
        Locality::Remote(why) => Err(Error::Remote(format!(
            "the login is not typed on this machine's keyboards: {why}"
        ))),
    }
}

/// Asks logind for the session of process `pid`. `Err` says what could not be learnt (the
/// login is then refused as unavailable, never taken as local).
pub async fn ask_logind(conn: &Connection, pid: u32) -> Result<Logind, String> {
    let manager = ManagerProxy::new(conn)
        .await
        .map_err(|e| format!("cannot ask logind: {e}"))?;
    let path = match manager.get_session_by_pid(pid).await {
        Ok(path) => path,
        Err(zbus::Error::MethodError(name, _, _)) => {
            return match name.as_str() {
                "org.freedesktop.login1.NoSessionForPID" => Ok(Logind::NoSession),
                n if is_no_service(n) => Ok(Logind::Absent),
                n => Err(format!("logind refused GetSessionByPID({pid}): {n}")),
            }
        }
        Err(e) => return Err(format!("logind did not answer GetSessionByPID({pid}): {e}")),
    };
    logind::session_info(conn, &path)
        .await
        .map(Logind::Session)
        .map_err(|e| format!("cannot read logind session {}: {e}", path.as_str()))
}

/// The bus's answers for a name nobody owns (and none can be started: a container's bus
/// with logind's activation file but no systemd).
fn is_no_service(error: &str) -> bool {
    matches!(
        error,
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner"
    ) || error.starts_with("org.freedesktop.DBus.Error.Spawn.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::OwnedObjectPath;

    fn session(remote: bool, seat: &str) -> Logind {
        Logind::Session(SessionInfo {
            id: "4".into(),
            path: OwnedObjectPath::try_from("/org/freedesktop/login1/session/_34").unwrap(),
            user: "ann".into(),
            seat: seat.into(),
            active: true,
            remote,
            class: "user".into(),
            locked: false,
        })
    }

    fn local(seat: &str) -> Locality {
        Locality::Local { seat: seat.into() }
    }

    fn is_remote(l: &Locality, why: &str) -> bool {
        matches!(l, Locality::Remote(w) if w.contains(why))
    }

    #[test]
    fn logind_session_decides_whatever_the_tty_says() {
        assert_eq!(
            decide(&session(false, "seat1"), "pts/3", ""),
            local("seat1")
        );
        assert_eq!(decide(&session(false, "seat0"), "", ""), local("seat0"));
        let ssh = decide(&session(true, ""), "tty1", "");
        assert!(is_remote(&ssh, "session 4 is remote"), "{ssh:?}");
        let seatless = decide(&session(false, ""), "/dev/tty2", "");
        assert!(is_remote(&seatless, "has no seat"), "{seatless:?}");
    }

    #[test]
    fn a_trial_is_local_only_in_a_seated_session_or_without_logind() {
        assert_eq!(decide_trial(&session(false, "seat1")), local("seat1"));
        assert!(is_remote(&decide_trial(&session(true, "")), "is remote"));
        assert!(is_remote(&decide_trial(&session(false, "")), "has no seat"));
        // A `systemd-run --user` unit or a cron job: no session, not at the keyboard.
        assert!(is_remote(
            &decide_trial(&Logind::NoSession),
            "no logind session"
        ));
        assert_eq!(decide_trial(&Logind::Absent), local("seat0"));
    }

    #[test]
    fn a_remote_host_is_remote_even_in_a_local_session() {
        let l = decide(&session(false, "seat0"), "tty1", "203.0.113.9");
        assert!(is_remote(&l, "\"203.0.113.9\""), "{l:?}");
        for rhost in ["localhost", "::1", "127.0.0.1"] {
            assert!(matches!(
                decide(&Logind::Absent, "tty1", rhost),
                Locality::Remote(_)
            ));
        }
    }

    #[test]
    fn without_a_session_only_a_virtual_console_is_local() {
        for logind in [Logind::NoSession, Logind::Absent] {
            assert_eq!(decide(&logind, "tty1", ""), local(DEFAULT_SEAT));
            assert_eq!(decide(&logind, "/dev/tty12", ""), local(DEFAULT_SEAT));
            for tty in [
                "",
                "pts/0",
                "/dev/pts/3",
                "ssh",
                ":0",
                "ttyS0",
                "tty0",
                "tty64",
            ] {
                let l = decide(&logind, tty, "");
                assert!(matches!(l, Locality::Remote(_)), "{tty:?}: {l:?}");
            }
        }
        assert!(is_remote(
            &decide(&Logind::NoSession, "pts/1", ""),
            "in no logind session"
        ));
        assert!(is_remote(
            &decide(&Logind::Absent, "pts/1", ""),
            "without logind"
        ));
    }

    #[test]
    fn virtual_consoles() {
        for tty in ["tty1", "tty9", "tty63", "/dev/tty7"] {
            assert!(is_virtual_console(tty), "{tty}");
        }
        for tty in [
            "tty",
            "tty0",
            "tty01",
            "tty64",
            "tty1a",
            "ttyS1",
            "/dev/pts/1",
            "dev/tty1",
            "tty+1",
            "ttyUSB0",
            "xtty1",
        ] {
            assert!(!is_virtual_console(tty), "{tty}");
        }
        assert!(is_no_service("org.freedesktop.DBus.Error.ServiceUnknown"));
        assert!(is_no_service(
            "org.freedesktop.DBus.Error.Spawn.ChildExited"
        ));
        assert!(!is_no_service("org.freedesktop.DBus.Error.AccessDenied"));
    }
}
