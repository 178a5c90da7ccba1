//! Where a login is typed comes from logind's record of the calling process, never from the
//! tty and host the caller names: the real daemon on a private bus, python-dbusmock's
//! logind template as logind (its `GetSessionByPID` answers for this test process's pid),
//! or no logind at all (a container).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use behavior_ipc::auth::{AuthProxyBlocking, VerifyStatus};
use behavior_ipc::Error;
use behavior_tests::logind_mock::{session_path, MockLogind, MANAGER, NO_SESSION, ROOT};
use behavior_tests::{fixture_subject, Daemon, PrivateBus, FIXTURE_PHRASE};
use zbus::zvariant::{ObjectPath, Value};

const USER: &str = "nobody";

fn config(deny_remote: bool) -> String {
    format!(
        r#"
phrase = "{FIXTURE_PHRASE}"
deny_remote = {deny_remote}
[enrollment]
behavior = true
pin = true
attempts = 5
"#
    )
}

/// Begins a login of `USER` on `tty` from `rhost` and finishes it; the error, if any.
fn begin(auth: &AuthProxyBlocking<'_>, tty: &str, rhost: &str) -> Result<(), Error> {
    let b = auth.begin(USER, "login", tty, rhost)?;
    auth.finish(&b.handle).unwrap();
    Ok(())
}

fn assert_remote(r: Result<(), Error>, why: &str) {
    match r {
        Err(Error::Remote(m)) => assert!(
            m.contains("not typed on this machine's keyboards") && m.contains(why),
            "{m}"
        ),
        other => panic!("expected Remote ({why}), got {other:?}"),
    }
}

/// The mock answers `GetSessionByPID` for this process with `session`, for any other pid
/// (or without a session) with logind's NoSessionForPID.
fn own_session_is(logind: &MockLogind, session: Option<&str>) {
    let code = match session {
        Some(id) => format!(
            "if args[0] == {pid}:\n    ret = dbus.ObjectPath('{}')\nelse:\n    {NO_SESSION}",
            session_path(id),
            pid = std::process::id()
        ),
        None => NO_SESSION.to_string(),
    };
    logind.set_method(ROOT, MANAGER, "GetSessionByPID", ("u", "o"), &code);
}

#[test]
fn without_logind_only_a_virtual_console_without_remote_host_is_local() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config(false));
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    begin(&auth, "tty1", "").unwrap();
    begin(&auth, "/dev/tty3", "").unwrap();
    let events = "SELECT count(*) FROM events";
    let before = d.db_count(events);
    for tty in ["", "pts/0", "/dev/pts/4", "ssh", ":0", "ttyS0"] {
        assert_remote(begin(&auth, tty, ""), "without logind");
    }
    // A remote host is remote whatever the tty, even one that looks local.
    assert_remote(begin(&auth, "tty1", "localhost"), "\"localhost\"");
    assert_remote(begin(&auth, "tty1", "198.51.100.7"), "remote host");
    assert_eq!(
        d.db_count(events),
        before,
        "a refused Begin records nothing"
    );
}

#[test]
fn deny_remote_is_still_a_policy_denial() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config(true));
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    match begin(&auth, "pts/2", "") {
        Err(Error::PolicyDenied(m)) => assert!(m.contains("remote logins are denied"), "{m}"),
        other => panic!("{other:?}"),
    }
    begin(&auth, "tty2", "").unwrap();
}

#[test]
fn logind_session_of_the_caller_decides_not_the_tty_it_names() {
    let bus = PrivateBus::start();
    let logind = MockLogind::start(&bus);
    logind.add_session("c1", "seat0", 0, "root", true);
    own_session_is(&logind, Some("c1"));
    let d = Daemon::start(&bus, &config(false));
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();

    // A local session on seat0: local whatever the caller calls its terminal.
    begin(&auth, "pts/3", "").unwrap();
    begin(&auth, "", "").unwrap();
    let asked = logind.calls("GetSessionByPID");
    assert!(
        asked
            .iter()
            .all(|pid| u32::try_from(pid).unwrap() == std::process::id()),
        "the daemon asked about the caller's own process: {asked:?}"
    );
    assert!(!asked.is_empty());

    // The same process in a remote session (an ssh login running su): remote, even with a
    // virtual console named and no remote host.
    logind.set_session("c1", "Remote", Value::from(true));
    assert_remote(begin(&auth, "tty1", ""), "logind session c1 is remote");
    logind.set_session("c1", "Remote", Value::from(false));

    // A session without a seat (cron, a container's machine session): not a keyboard here.
    logind.add_session("c2", "seat0", 0, "root", true);
    let no_seat = Value::from(("", ObjectPath::try_from("/").unwrap()));
    logind.set_session("c2", "Seat", no_seat);
    own_session_is(&logind, Some("c2"));
    assert_remote(begin(&auth, "tty1", ""), "has no seat");

    // logind runs but the caller is in no session (login started by getty): the tty decides.
    own_session_is(&logind, None);
    begin(&auth, "tty1", "").unwrap();
    assert_remote(begin(&auth, "pts/1", ""), "in no logind session");
}

#[test]
fn a_login_on_another_seat_gets_none_of_seat0s_keys() {
    let bus = PrivateBus::start();
    let logind = MockLogind::start(&bus);
    logind.add_session("c1", "seat0", 0, "root", true);
    logind.add_session("c5", "seat1", 0, "root", true);
    own_session_is(&logind, Some("c1"));
    let d = Daemon::start(&bus, &config(false));
    let typings = fixture_subject("subject2");
    d.enroll(USER, &typings[..5], Some("123456"));
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    let verify = |seat_session: &str| {
        own_session_is(&logind, Some(seat_session));
        let b = auth.begin(USER, "login", "tty1", "").unwrap();
        auth.open_capture(&b.handle).unwrap();
        // Injected keys are seat0's keyboard.
        d.inject(&conn, &typings[14]);
        let v = auth.submit_verification(&b.handle, FIXTURE_PHRASE).unwrap();
        auth.finish(&b.handle).unwrap();
        v
    };
    let v = verify("c5");
    assert_eq!(
        (v.status, v.message.as_str()),
        (
            VerifyStatus::Retry,
            "No typing was captured from the keyboard; please type the phrase again."
        )
    );
    assert_eq!(verify("c1").status, VerifyStatus::Accepted);
}
