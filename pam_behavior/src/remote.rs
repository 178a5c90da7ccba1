//! Is this login remote? Remote logins never use evdev timings (the keys are not typed on
//! this machine's keyboards), so the module answers without calling the daemon.

/// Host names PAM applications put in `PAM_RHOST` for a login from this very machine.
const LOCAL_HOSTS: &[&str] = &["localhost", "localhost.localdomain", "127.0.0.1", "::1"];

/// `rhost`: `PAM_RHOST` (empty when unset). `tty`: `PAM_TTY` (empty when unset).
/// `local_seat`: the caller's session is on a local seat (`XDG_SEAT` set), which makes a
/// pseudo-terminal local (a terminal window on this machine's screen).
pub fn is_remote(rhost: &str, tty: &str, local_seat: bool) -> bool {
    if !rhost.is_empty() && !LOCAL_HOSTS.contains(&rhost) {
        return true;
    }
    // sshd sets PAM_TTY to "ssh" while authenticating.
    if tty == "ssh" {
        return true;
    }
    let pseudo_terminal = tty.starts_with("/dev/pts/") || tty.starts_with("pts/");
    pseudo_terminal && !local_seat
}

/// Whether logind's record of a session (`/run/systemd/sessions/ID`, `KEY=VALUE` lines)
/// shows a session of user `uid` on a local seat. Used where the environment cannot be
/// trusted (a setuid `su` or `sudo`, whose environment is the invoking user's): an ssh user
/// could otherwise claim `XDG_SEAT` and pass their pseudo-terminal off as local.
pub fn logind_session_is_local(record: &str, uid: u32) -> bool {
    let value = |key: &str| {
        record.lines().find_map(|line| {
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::trim)
        })
    };
    let owner = value("UID").and_then(|v| v.parse::<u32>().ok());
    owner == Some(uid)
        && value("SEAT").is_some_and(|s| !s.is_empty())
        && value("REMOTE") != Some("1")
}

/// A logind session id as it may appear in a path: letters and digits only.
pub fn is_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::{is_remote, is_session_id, logind_session_is_local};

    const SEATED: &str = "# This is private data. Do not parse.\nUID=1000\nUSER=ann\nACTIVE=1\n\
                          STATE=active\nREMOTE=0\nTYPE=wayland\nCLASS=user\nSEAT=seat0\nVTNR=2\n";

    #[test]
    fn a_logind_session_is_local_only_on_a_seat_of_the_same_user() {
        assert!(logind_session_is_local(SEATED, 1000));
        assert!(
            !logind_session_is_local(SEATED, 1001),
            "someone else's session"
        );
        let ssh = "UID=1000\nREMOTE=1\nREMOTE_HOST=192.0.2.7\nTYPE=tty\nCLASS=user\n";
        assert!(!logind_session_is_local(ssh, 1000));
        let remote_on_seat = SEATED.replace("REMOTE=0", "REMOTE=1");
        assert!(!logind_session_is_local(&remote_on_seat, 1000));
        let no_seat = SEATED.replace("SEAT=seat0", "SEAT=");
        assert!(!logind_session_is_local(&no_seat, 1000));
        // A key is matched whole: SEAT is not taken from another key that starts with it.
        let tricky = "UID=1000\nSEATX=seat0\nREMOTE=0\n";
        assert!(!logind_session_is_local(tricky, 1000));
        assert!(!logind_session_is_local("", 1000));
    }

    #[test]
    fn session_ids_cannot_leave_the_sessions_directory() {
        assert!(is_session_id("3") && is_session_id("c2"));
        for bad in ["", "..", "../users/1000", "3/../4", "a b", "3\n"] {
            assert!(!is_session_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_remote_host_is_remote() {
        assert!(is_remote("192.0.2.7", "", true));
        assert!(is_remote("build.example.org", "/dev/tty1", true));
    }

    #[test]
    fn the_local_host_and_consoles_are_local() {
        for host in ["", "localhost", "127.0.0.1", "::1"] {
            assert!(!is_remote(host, "/dev/tty1", false), "{host}");
            assert!(!is_remote(host, "tty2", false), "{host}");
            assert!(!is_remote(host, ":0", false), "{host}");
            assert!(!is_remote(host, "", false), "{host}");
        }
    }

    #[test]
    fn a_pseudo_terminal_is_remote_unless_on_a_local_seat() {
        assert!(is_remote("", "/dev/pts/3", false));
        assert!(is_remote("", "pts/0", false));
        assert!(!is_remote("", "/dev/pts/3", true));
        assert!(is_remote("", "ssh", true));
    }
}
