//! `behaviorctl` driving the real daemon on a private bus: settings, enrollment from injected
//! typings, PINs (set, verify, change, remove), users, events in SQLite and syslog, follow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use behavior_ipc::auth::{AuthProxyBlocking, Stage, VerifyStatus};
use behavior_ipc::Error;
use behavior_tests::{built, fixture_subject, Daemon, PrivateBus, FIXTURE_PHRASE};
use serde_json::{json, Value};

const USER: &str = "nobody";

fn config() -> String {
    format!(
        "phrase = \"{FIXTURE_PHRASE}\"\n[pin]\nargon2_memory_kib = 256\nargon2_iterations = 1\n"
    )
}

#[track_caller]
fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "behaviorctl failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[track_caller]
fn fails(out: std::process::Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "behaviorctl should fail; stderr {err}"
    );
    assert!(
        err.contains(needle),
        "stderr {err:?} should name {needle:?}"
    );
}

fn json(out: std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

#[test]
fn admin_and_self_service_through_behaviorctl() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config());
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();

    // Enrollment is off by default: nothing to do for an unenrolled user.
    assert!(matches!(
        auth.begin(USER, "login", "tty1", ""),
        Err(Error::NotEnrolled(_))
    ));

    ok(d.ctl(&["set", "enrollment.behavior", "true"]));
    ok(d.ctl(&["set", "enrollment.pin", "true"]));
    let settings = json(d.ctl(&["settings", "--json"]));
    let find = |key: &str| {
        settings
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(find("enrollment.behavior")["value"], "true");
    assert_eq!(find("enrollment.behavior")["source"], "override");
    assert_eq!(find("phrase")["source"], "file");
    assert_eq!(find("verify.max_tries")["source"], "default");
    // Refused settings name the key and change nothing.
    fails(d.ctl(&["set", "pin.length", "2"]), "pin.length");
    fails(d.ctl(&["set", "no.such", "1"]), "no.such");
    fails(
        d.ctl(&["set", "enrollment.attempts", "many"]),
        "enrollment.attempts",
    );
    assert_eq!(d.db_count("SELECT COUNT(*) FROM settings"), 2);

    let typings = fixture_subject("subject2");
    d.enroll(USER, &typings[..5], Some("123456"));

    let users = json(d.ctl(&["users", "--json"]));
    assert_eq!(users[0]["name"], USER);
    assert_eq!(users[0]["enrolled"], true);
    assert_eq!(users[0]["pin_set"], true);
    assert_eq!(users[0]["template_typings"], 5);
    let table = ok(d.ctl(&["show", USER]));
    assert!(table.starts_with("USER") && table.contains(USER), "{table}");
    fails(d.ctl(&["show", "no-such-user-x"]), "unknown user");
    let status = json(d.ctl(&["status", "--json"]));
    assert_eq!(status["users_enrolled"], 1);
    assert_eq!(status["test_input"], true);
    let policy = ok(d.ctl(&["policy"]));
    assert!(policy.contains("behavior+pin"), "{policy}");

    // Root sets a PIN from standard input; the login then verifies it.
    ok(d.ctl_with(&["set-pin", USER], Some("246802\n")));
    fails(d.ctl_with(&["set-pin", USER], Some("12\n")), "6 digits");
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(b.stage, Stage::Verify);
    assert_eq!(
        auth.verify_pin(&b.handle, "123456").unwrap().status,
        VerifyStatus::Rejected
    );
    assert_eq!(
        auth.verify_pin(&b.handle, "246802").unwrap().status,
        VerifyStatus::Accepted
    );
    auth.finish(&b.handle).unwrap();

    // The user changes their own PIN after giving the current one.
    fails(
        d.ctl_as_nobody(&["set-pin"], Some("000000\n135790\n")),
        "current PIN is wrong",
    );
    ok(d.ctl_as_nobody(&["set-pin"], Some("246802\n135790\n")));
    let me = json(d.ctl_as_nobody(&["me", "--json"], None));
    assert_eq!(
        (me["user"].as_str(), me["pin_set"].as_bool()),
        (Some(USER), Some(true))
    );
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(
        auth.verify_pin(&b.handle, "135790").unwrap().status,
        VerifyStatus::Accepted
    );
    auth.finish(&b.handle).unwrap();

    ok(d.ctl(&["remove-pin", USER]));
    fails(d.ctl(&["remove-pin", USER]), "has no PIN");
    // The session monitor's profile of the user goes with the pattern.
    rusqlite::Connection::open(d.db_path())
        .unwrap()
        .execute(
            "INSERT INTO profiles (user, profile, updated_at) VALUES (?1, '{}', 1)",
            [USER],
        )
        .unwrap();
    ok(d.ctl(&["remove-pattern", USER]));
    assert_eq!(d.db_count("SELECT COUNT(*) FROM profiles"), 0);
    fails(d.ctl(&["remove-pattern", USER]), "has no typing pattern");
    ok(d.ctl(&["unset", "enrollment.behavior"]));
    ok(d.ctl(&["unset", "enrollment.pin"]));
    assert!(matches!(
        auth.begin(USER, "login", "tty1", ""),
        Err(Error::NotEnrolled(_))
    ));

    // Every change is an event, in SQLite and in syslog (authpriv), without secrets.
    let names: Vec<String> = d.db_events().into_iter().map(|e| e.0).collect();
    let expected = [
        "E_SETTINGS_CHANGED",
        "E_SETTINGS_CHANGED",
        "E_BEHAVIOR_AUTH_ENROLLED",
        "E_USER_PIN_ENROLLED",
        "E_USER_PIN_UPDATED",
        "E_USER_PIN_FAILED",
        "E_USER_PIN_SUCCEEDED",
        "E_USER_PIN_FAILED",
        "E_USER_PIN_UPDATED",
        "E_USER_PIN_SUCCEEDED",
        "E_USER_PIN_UNENROLLED",
        "E_BEHAVIOR_AUTH_UNENROLLED",
        "E_SETTINGS_CHANGED",
        "E_SETTINGS_CHANGED",
    ];
    assert_eq!(names, expected);
    let log = d.syslog.drain();
    for name in expected {
        assert!(
            log.iter().any(|l| l.contains(name)),
            "{name} missing from syslog {log:#?}"
        );
    }
    let pin_failed = log
        .iter()
        .find(|l| l.contains("E_USER_PIN_FAILED"))
        .unwrap();
    // <84> = authpriv (10) * 8 + warning (4).
    assert!(pin_failed.starts_with("<84>"), "{pin_failed}");
    assert!(
        pin_failed.contains("user=nobody outcome=failure"),
        "{pin_failed}"
    );
    for secret in ["123456", "246802", "135790", FIXTURE_PHRASE] {
        assert!(
            log.iter().all(|l| !l.contains(secret)),
            "{secret} in syslog"
        );
    }

    // Filters.
    let updated = json(d.ctl(&["events", "--json", "--name", "E_USER_PIN_UPDATED"]));
    assert_eq!(updated.as_array().unwrap().len(), 2);
    let sources: Vec<&str> = updated
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["behaviorctl", "self-service"]);
    let mine = json(d.ctl(&["events", "--json", "--user", USER, "--since", "1h"]));
    assert_eq!(mine.as_array().unwrap().len(), 10);
    let future = json(d.ctl(&["events", "--json", "--since", "2999-01-01"]));
    assert_eq!(future.as_array().unwrap().len(), 0);
    fails(d.ctl(&["events", "--since", "yesterday"]), "--since");
    fails(d.ctl(&["events", "--name", "E_NOPE"]), "not an event name");
    let table = ok(d.ctl(&["events", "--limit", "2"]));
    assert_eq!(table.lines().count(), 3, "{table}");
}

#[test]
fn events_follow_streams_new_events() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config());
    let mut child = Command::new(built("behaviorctl"))
        .args([
            "events",
            "--follow",
            "--json",
            "--name",
            "E_SETTINGS_CHANGED",
        ])
        .env("DBUS_SYSTEM_BUS_ADDRESS", d.bus_address())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    // Wait until the follower is subscribed: keep changing a setting until a line arrives.
    let mut got = None;
    for i in 0..50 {
        ok(d.ctl(&["set", "verify.max_tries", &(2 + i % 2).to_string()]));
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            got = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = got.expect("no event streamed");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["name"], "E_SETTINGS_CHANGED");
    assert_eq!(v["outcome"], "set verify.max_tries");
}

/// `behaviorctl try` as the enrolled user `nobody` (or as root): typing injected while it
/// waits for the phrase.
fn try_as_nobody(d: &Daemon, typing: &behavior_tests::Typing) -> Value {
    try_as(d, true, typing)
}

fn try_as(d: &Daemon, nobody: bool, typing: &behavior_tests::Typing) -> Value {
    use std::io::Write;
    let mut command = if nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(built("behaviorctl"));
        c
    } else {
        Command::new(built("behaviorctl"))
    };
    let mut child = command
        .args(["try", "--json"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", d.bus_address())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut prompt = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut prompt)
        .unwrap();
    assert_eq!(prompt.trim(), format!("Type the phrase: {FIXTURE_PHRASE}"));
    let conn = d.connect();
    d.inject(&conn, typing);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{FIXTURE_PHRASE}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_user_tries_the_matcher_on_their_own_typing() {
    let bus = PrivateBus::start();
    let d = Daemon::start(
        &bus,
        &format!("{}[enrollment]\nbehavior = true\n", config()),
    );
    let genuine = fixture_subject("subject2");
    // Not enrolled yet: nothing to try.
    let out = d.ctl_as_nobody(&["try"], Some(""));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no typing pattern"));
    let conn = d.connect();
    ok(d.ctl(&["set", "default_journey", "behavior"]));
    d.enroll(USER, &genuine[..5], None);
    d.enroll("root", &genuine[..5], None);
    let events = d.db_count("SELECT COUNT(*) FROM events");

    let r = try_as_nobody(&d, &genuine[14]);
    assert_eq!(r["accepted"], true, "{r}");
    let r = try_as_nobody(&d, &fixture_subject("subject4")[0]);
    assert_eq!(r["accepted"], false, "{r}");
    // A user learns the verdict only, never the score to practise against.
    assert_eq!(
        (&r["scored"], &r["score"]),
        (&json!(false), &json!(0.0)),
        "{r}"
    );
    // Root (an admin tuning thresholds.accept) sees the score against the threshold.
    let r = try_as(&d, false, &fixture_subject("subject4")[0]);
    assert_eq!(
        (&r["scored"], &r["accepted"]),
        (&json!(true), &json!(false)),
        "{r}"
    );
    assert!(
        r["score"].as_f64().unwrap() > r["threshold"].as_f64().unwrap(),
        "{r}"
    );
    let r = try_as(&d, false, &genuine[14]);
    assert!(
        r["score"].as_f64().unwrap() <= r["threshold"].as_f64().unwrap(),
        "{r}"
    );
    assert!(r["threshold"].as_f64().unwrap() > 0.0, "{r}");
    // Nothing counted or stored.
    assert_eq!(d.db_count("SELECT COUNT(*) FROM events"), events);
    assert_eq!(
        d.db_count("SELECT COUNT(*) FROM lockouts WHERE failures > 0"),
        0
    );
    // A made-up trial handle.
    let user = behavior_ipc::user::UserProxyBlocking::new(&conn).unwrap();
    assert!(matches!(
        user.submit_trial("0123456789abcdef0123456789abcdef", FIXTURE_PHRASE),
        Err(Error::NoSuchHandle(_))
    ));
}

/// A row written before `Begin` checked its strings (or by anyone with the database) holds a
/// terminal escape: `behaviorctl events` prints it escaped, in the table and in JSON, and the
/// JSON still reads back as the stored text.
#[test]
fn stored_terminal_escapes_print_escaped() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config());
    let nasty = "login\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m";
    let db = rusqlite::Connection::open(d.db_path()).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "INSERT INTO events (time, name, user, source, outcome, service, tty, rhost) \
         VALUES (1, 'E_USER_PIN_FAILED', ?1, 'pam', 'failure', ?1, 'pts/3', '10.0.0.7')",
        [nasty],
    )
    .unwrap();
    drop(db);
    for args in [
        &["events"][..],
        &["events", "--json"],
        &["events", "--user", nasty],
    ] {
        let out = d.ctl(args);
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "{args:?} printed a control character: {text:?}"
            );
        }
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("login\\u001b[2J\\u001b]0;owned"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let events = json(d.ctl(&["events", "--json"]));
    assert_eq!(events[0]["service"], nasty);
    // The login's terminal and remote host are shown beside its service.
    assert_eq!(
        (&events[0]["tty"], &events[0]["rhost"]),
        (&json!("pts/3"), &json!("10.0.0.7"))
    );
    let table = ok(d.ctl(&["events"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["TIME", "EVENT", "USER", "OUTCOME", "SERVICE", "TTY", "RHOST", "SOURCE"]
    );
    assert!(
        table.contains("pts/3") && table.contains("10.0.0.7"),
        "{table}"
    );
}

/// `behaviorctl status` against `bus` (an address) without a `Daemon`.
fn status_on(bus: &str) -> std::process::Output {
    Command::new(built("behaviorctl"))
        .arg("status")
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
        .output()
        .unwrap()
}

#[test]
fn a_daemon_that_is_not_running_is_named_with_how_to_start_it() {
    let start = "behaviorctl: behaviord is not running; start it with `systemctl start behaviord`";
    // The bus runs, the daemon does not.
    let bus = PrivateBus::start();
    fails(status_on(bus.address()), start);
    // No bus at all.
    let dir = behavior_tests::open_tempdir();
    let nowhere = format!("unix:path={}", dir.path().join("no-bus").display());
    fails(status_on(&nowhere), start);
}

#[test]
fn monitoring_off_without_logind_is_said_and_unknown_users_are_errors() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config());
    let off =
        "session monitoring is off: no systemd-logind (org.freedesktop.login1) on the system bus";
    // session.monitor is on by default, but there is no logind on this bus.
    let status = ok(d.ctl(&["status"]));
    assert!(
        status.contains(off.trim_start_matches("session monitoring is ")),
        "{status}"
    );
    assert_eq!(
        json(d.ctl(&["status", "--json"]))["monitoring"],
        off.trim_start_matches("session monitoring is ")
    );
    let settings = d.ctl(&["settings"]);
    assert!(
        String::from_utf8_lossy(&settings.stderr).contains(off),
        "{settings:?}"
    );
    // `monitor` says why before printing anything.
    let out = d.ctl(&["monitor", USER]);
    assert!(out.stdout.is_empty(), "{out:?}");
    fails(out, off);
    ok(d.ctl(&["set", "session.monitor", "false"]));
    fails(d.ctl(&["monitor", USER]), "session.monitor = false");

    // `events --user` of an unknown user is an error, as `show` is; a known user with no
    // events is an empty table.
    fails(
        d.ctl(&["events", "--user", "no-such-user-xyz"]),
        "unknown user: no user \"no-such-user-xyz\"",
    );
    let table = ok(d.ctl(&["events", "--user", USER]));
    assert_eq!(table.lines().count(), 1, "{table}");
}
