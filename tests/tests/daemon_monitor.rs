//! The daemon with its session monitor wired in: python-dbusmock's logind on the private bus,
//! an enrolled user's active session with a stored profile (Aalto subject a113, from
//! `tests/fixtures/monitor_aalto.jsonl`), another person's typing (a112) injected through
//! `Test1` into the daemon's key channel: the daemon locks the session through logind and
//! records `E_SESSION_STEP_UP` in SQLite and syslog; `behaviorctl status` lists the session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use behavior_core::free::ProfileBuilder;
use behavior_core::LabeledSample;
use behavior_tests::{fixture_subject, workspace_root, Daemon, PrivateBus, Typing, FIXTURE_PHRASE};
use zbus::zvariant::{ObjectPath, OwnedValue, Value};

const LOGIND: &str = "org.freedesktop.login1";
const ROOT: &str = "/org/freedesktop/login1";
const MOCK: &str = "org.freedesktop.DBus.Mock";
const USER: &str = "nobody";
const UID: u32 = 65534;

struct MockLogind(Child);

impl Drop for MockLogind {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_logind(bus: &PrivateBus) -> MockLogind {
    let child = Command::new("/usr/bin/python3")
        .args(["-m", "dbusmock", "--system", "--template", "logind"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3-dbusmock must be installed (Debian package python3-dbusmock)");
    let mock = MockLogind(child);
    let conn = bus.connect();
    let dbus = zbus::blocking::fdo::DBusProxy::new(&conn).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dbus.name_has_owner(LOGIND.try_into().unwrap()).unwrap() {
        assert!(Instant::now() < deadline, "dbusmock logind did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    mock
}

fn aalto(subject: &str) -> Vec<LabeledSample> {
    let text = std::fs::read_to_string(workspace_root().join("tests/fixtures/monitor_aalto.jsonl"))
        .unwrap();
    text.lines()
        .map(|l| LabeledSample::parse_line(l).unwrap())
        .filter(|s| s.subject == subject)
        .collect()
}

fn lock_calls(conn: &zbus::blocking::Connection) -> Vec<String> {
    let reply = conn
        .call_method(
            Some(LOGIND),
            ROOT,
            Some(MOCK),
            "GetMethodCalls",
            &("LockSession",),
        )
        .unwrap();
    let calls: Vec<(u64, Vec<OwnedValue>)> = reply.body().deserialize().unwrap();
    calls
        .into_iter()
        .map(|(_, args)| String::try_from(args[0].clone()).unwrap())
        .collect()
}

fn store_profile(d: &Daemon, profile: &str) {
    rusqlite::Connection::open(d.db_path())
        .unwrap()
        .execute(
            "INSERT INTO profiles (user, profile, updated_at) VALUES (?1, ?2, 0)",
            (USER, profile),
        )
        .unwrap();
}

/// A local session c1 of USER on seat0, added to the mock and announced as logind would.
fn open_session(conn: &zbus::blocking::Connection) {
    conn.call_method(
        Some(LOGIND),
        ROOT,
        Some(MOCK),
        "AddSession",
        &("c1", "seat0", UID, USER, true),
    )
    .unwrap();
    // The mock adds without announcing: send logind's SessionNew as logind would.
    let path = ObjectPath::try_from(format!("{ROOT}/session/c1")).unwrap();
    let args: Vec<Value> = vec![Value::from("c1"), Value::from(path)];
    conn.call_method(
        Some(LOGIND),
        ROOT,
        Some(MOCK),
        "EmitSignal",
        &("org.freedesktop.login1.Manager", "SessionNew", "so", args),
    )
    .unwrap();
}

fn status(d: &Daemon) -> serde_json::Value {
    serde_json::from_slice(&d.ctl(&["status", "--json"]).stdout).unwrap()
}

/// Waits until the first monitored session's phase satisfies `want`.
fn wait_for_phase(d: &Daemon, want: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !want(
        status(d)["sessions"][0]["phase"]
            .as_str()
            .unwrap_or_default(),
    ) {
        assert!(
            Instant::now() < deadline,
            "session not in the expected phase: {} {:?}",
            status(d),
            d.syslog.drain()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_profile_of_an_earlier_layout_is_learnt_again() {
    let bus = PrivateBus::start();
    let _logind = start_logind(&bus);
    let d = Daemon::start(
        &bus,
        &format!(
            "phrase = \"{FIXTURE_PHRASE}\"\ndefault_journey = \"behavior\"\n\
             [enrollment]\nbehavior = true\n[session]\nmonitor = true\n"
        ),
    );
    let conn = d.connect();
    assert!(
        d.enroll(USER, &fixture_subject("subject2")[..5], None)
            .success
    );
    // Layout 1 (per-key statistics, no `layout` field) as earlier versions stored it.
    store_profile(
        &d,
        r#"{"keystrokes":900,"holds":{"a":[4.5,0.2,64]},"pairs":{}}"#,
    );
    open_session(&conn);
    wait_for_phase(&d, |p| p.starts_with("learning 0/"));
}

#[test]
fn another_typist_in_a_monitored_session_is_stepped_up() {
    let bus = PrivateBus::start();
    let _logind = start_logind(&bus);
    let d = Daemon::start(
        &bus,
        &format!(
            "phrase = \"{FIXTURE_PHRASE}\"\ndefault_journey = \"behavior\"\n\
             [enrollment]\nbehavior = true\n[session]\nmonitor = true\n"
        ),
    );
    let conn = d.connect();
    assert!(
        d.enroll(USER, &fixture_subject("subject2")[..5], None)
            .success
    );
    // The session owner's profile, as the monitor would have learnt it.
    let mut b = ProfileBuilder::new();
    for s in &aalto("a113")[..10] {
        b.add(&s.sample.keys);
    }
    store_profile(&d, &serde_json::to_string(&b.build().unwrap()).unwrap());

    open_session(&conn);
    let status = || status(&d);
    wait_for_phase(&d, |p| p == "monitoring");
    let table = String::from_utf8(d.ctl(&["status"]).stdout).unwrap();
    assert!(
        table.contains("c1") && table.contains("monitoring"),
        "{table}"
    );
    // Run-time settings restart the monitor: off, then on again (logind lists c1).
    assert!(d.ctl(&["set", "session.monitor", "false"]).status.success());
    assert_eq!(status()["sessions"], serde_json::json!([]));
    assert!(d
        .ctl(&["set", "thresholds.step_up", "1.5"])
        .status
        .success());
    assert!(d.ctl(&["unset", "session.monitor"]).status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while status()["sessions"][0]["phase"] != "monitoring" {
        assert!(
            Instant::now() < deadline,
            "not monitored again: {}",
            status()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    assert!(lock_calls(&conn).is_empty(), "locked before anyone typed");
    // Someone else types in the session, sentence after sentence.
    for s in aalto("a112") {
        let typing = Typing {
            subject: s.subject.clone(),
            text: s.text.clone(),
            keys: s
                .sample
                .keys
                .iter()
                .map(|k| (k.key.name(), k.down, k.up))
                .collect(),
        };
        d.inject(&conn, &typing);
        if !lock_calls(&conn).is_empty() {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock_calls(&conn).is_empty() {
        assert!(Instant::now() < deadline, "never locked: {}", status());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lock_calls(&conn), ["c1"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let events = d.db_events();
        if let Some(e) = events.iter().find(|e| e.0 == "E_SESSION_STEP_UP") {
            assert_eq!(
                (e.1.as_str(), e.2.as_str(), e.3.as_str()),
                (USER, "locked", "session")
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no E_SESSION_STEP_UP in {events:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d
        .syslog
        .drain()
        .iter()
        .any(|l| l.contains("E_SESSION_STEP_UP user=nobody outcome=locked")));
}
