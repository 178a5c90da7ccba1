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

#[cfg(test)]
mod tests {
    use super::is_remote;

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
