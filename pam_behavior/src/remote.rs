//! Is this login remote? Remote logins never use evdev timings (the keys are not typed on
//! this machine's keyboards), so the module answers without calling the daemon.

/// Host names PAM applications put in `PAM_RHOST` for a login from this very machine.
const LOCAL_HOSTS: &[&str] = &["localhost", "localhost.localdomain", "127.0.0.1", "::1"];

/// What the module can tell without asking anyone: `rhost` (`PAM_RHOST`, empty when unset)
/// names another host, or `tty` (`PAM_TTY`) is sshd's `ssh`. Everything else goes to the
/// daemon, which decides from logind's record of the calling process's own session (a
/// pseudo-terminal is local only inside a session on a local seat); the module never trusts
/// the environment (`XDG_SEAT`, `XDG_SESSION_ID`), which the invoking user of a setuid
/// `su` or `sudo` sets.
pub fn is_remote(rhost: &str, tty: &str) -> bool {
    if !rhost.is_empty() && !LOCAL_HOSTS.contains(&rhost) {
        return true;
    }
    // sshd sets PAM_TTY to "ssh" while authenticating.
    tty == "ssh"
}

#[cfg(test)]
mod tests {
    use super::is_remote;

    #[test]
    fn a_remote_host_is_remote() {
        assert!(is_remote("192.0.2.7", ""));
        assert!(is_remote("build.example.org", "/dev/tty1"));
        assert!(is_remote("", "ssh"));
    }

    #[test]
    fn the_local_host_and_terminals_go_to_the_daemon() {
        for host in ["", "localhost", "127.0.0.1", "::1"] {
            for tty in ["/dev/tty1", "tty2", ":0", "", "/dev/pts/3"] {
                assert!(!is_remote(host, tty), "{host} {tty}");
            }
        }
    }
}
