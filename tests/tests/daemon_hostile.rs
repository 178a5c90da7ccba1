//! Hostile input: oversized strings, unknown users, wrong types, stale, foreign and expired
//! handles, a caller that leaves, bad injected keys, garbage config. Each is a clear error,
//! nothing is stored, and the daemon keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use behavior_ipc::admin::AdminProxyBlocking;
use behavior_ipc::auth::AuthProxyBlocking;
use behavior_ipc::test::TestProxyBlocking;
use behavior_ipc::{Error, AUTH_PATH, BUS_NAME, MAX_STRING_LEN};
use behavior_tests::{built, fixture_subject, open_tempdir, Daemon, PrivateBus, FIXTURE_PHRASE};

const USER: &str = "nobody";

fn config(extra: &str) -> String {
    format!(
        "phrase = \"{FIXTURE_PHRASE}\"\n{extra}\n[enrollment]\nbehavior = true\npin = true\n\
         [pin]\nargon2_memory_kib = 256\nargon2_iterations = 1\n"
    )
}

fn rows(d: &Daemon) -> i64 {
    d.db_count(
        "SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM templates) + \
         (SELECT COUNT(*) FROM pins) + (SELECT COUNT(*) FROM settings) + \
         (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM lockouts)",
    )
}

#[test]
fn hostile_arguments_are_refused_and_change_nothing() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config(""));
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    let admin = AdminProxyBlocking::new(&conn).unwrap();
    let test = TestProxyBlocking::new(&conn).unwrap();
    let before = rows(&d);
    let huge = "x".repeat(MAX_STRING_LEN + 1);

    // Oversized strings.
    assert!(matches!(
        auth.begin(&huge, "login", "", ""),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        auth.begin(USER, &huge, "", ""),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        auth.begin(USER, "login", &huge, ""),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        auth.open_capture(&huge),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        admin.set_pin(USER, &huge),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        admin.set(&huge, "1"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        admin.set("phrase", &huge),
        Err(Error::InvalidArgument(_))
    ));
    // Service, tty and remote host: printable ASCII without spaces, bounded; the error
    // names the argument.
    for (service, tty, rhost, what) in [
        ("log\u{1b}[2Jin", "tty1", "", "service"),
        ("login", "tty1\r", "", "tty"),
        ("login", "tty1", "h\u{9b}31m", "rhost"),
        ("log in", "tty1", "", "service"),
        (&"s".repeat(65) as &str, "tty1", "", "service"),
        ("login", "tty1", &"h".repeat(256) as &str, "rhost"),
    ] {
        match auth.begin(USER, service, tty, rhost) {
            Err(Error::InvalidArgument(m)) => assert!(m.starts_with(what), "{m}"),
            other => panic!("{service:?} {tty:?} {rhost:?}: {other:?}"),
        }
    }
    // Unknown or malformed users.
    for user in [
        "no-such-user-behaviord",
        "",
        "../../etc/passwd",
        "a\nb",
        "root:x",
    ] {
        let r = auth.begin(user, "login", "", "");
        assert!(
            matches!(
                r,
                Err(Error::UnknownUser(_)) | Err(Error::InvalidArgument(_))
            ),
            "{user:?}: {r:?}"
        );
    }
    assert!(matches!(
        admin.show_user("no-such-user-behaviord"),
        Err(Error::UnknownUser(_))
    ));
    assert!(matches!(
        admin.set_pin("no-such-user-behaviord", "123456"),
        Err(Error::UnknownUser(_))
    ));
    // Bad PINs and settings.
    for pin in ["12345", "1234567", "12345a", "", "١٢٣٤٥٦"] {
        assert!(
            matches!(admin.set_pin(USER, pin), Err(Error::InvalidArgument(_))),
            "{pin:?}"
        );
    }
    assert!(matches!(
        admin.set("lockout.minutes", "-1"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        admin.set("rule", "x"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        admin.unset("phrase"),
        Err(Error::InvalidArgument(_))
    ));
    // Wrong types: the bus call itself is refused.
    let r = conn.call_method(
        Some(BUS_NAME),
        AUTH_PATH,
        Some("org.behaviord.Auth1"),
        "Begin",
        &(5u32, true),
    );
    let e = r.expect_err("wrong types must fail").to_string();
    assert!(
        e.contains("InvalidArgs") || e.contains("Signature mismatch"),
        "{e}"
    );
    let r = conn.call_method(
        Some(BUS_NAME),
        AUTH_PATH,
        Some("org.behaviord.Auth1"),
        "Finish",
        &(),
    );
    assert!(r.is_err());
    // Stale and made-up handles.
    for h in ["", "0123456789abcdef0123456789abcdef", "not a handle"] {
        assert!(
            matches!(auth.open_capture(h), Err(Error::NoSuchHandle(_))),
            "{h:?}"
        );
        assert!(matches!(
            auth.verify_pin(h, "123456"),
            Err(Error::NoSuchHandle(_))
        ));
        assert!(matches!(auth.finish(h), Err(Error::NoSuchHandle(_))));
    }
    // Keys that are no keys.
    assert!(matches!(
        test.inject_keys(&[("zz", 0.0, 1.0)]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        test.inject_keys(&[("a", 5.0, 1.0)]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        test.inject_keys(&[("a", f64::NAN, 1.0)]),
        Err(Error::InvalidArgument(_))
    ));
    let many = vec![("a", 0.0, 1.0); 5000];
    assert!(matches!(
        test.inject_keys(&many),
        Err(Error::InvalidArgument(_))
    ));

    assert_eq!(rows(&d), before, "a refused call stored something");

    // Handles: from another connection, after Finish, wrong stage.
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    let other = d.connect();
    let auth2 = AuthProxyBlocking::new(&other).unwrap();
    assert!(matches!(
        auth2.open_capture(&b.handle),
        Err(Error::NoSuchHandle(_))
    ));
    assert!(matches!(
        auth2.finish(&b.handle),
        Err(Error::NoSuchHandle(_))
    ));
    assert!(matches!(
        auth.submit_verification(&b.handle, FIXTURE_PHRASE),
        Err(Error::WrongStage(_))
    ));
    assert!(matches!(
        auth.verify_pin(&b.handle, "123456"),
        Err(Error::WrongStage(_))
    ));
    assert!(matches!(
        auth.skip_enrollment(&b.handle),
        Err(Error::PolicyDenied(_))
    ));
    // A typing with the wrong keys for the text is a failed sample, not a pattern.
    auth.open_capture(&b.handle).unwrap();
    let mut wrong = fixture_subject("subject2")[0].clone();
    wrong.keys[3].0 = "q".into();
    d.inject(&conn, &wrong);
    let step = auth.submit_enrollment(&b.handle, FIXTURE_PHRASE).unwrap();
    assert_eq!(
        step.status,
        behavior_ipc::auth::EnrollStatus::Retry,
        "{step:?}"
    );
    auth.finish(&b.handle).unwrap();
    assert!(matches!(
        auth.open_capture(&b.handle),
        Err(Error::NoSuchHandle(_))
    ));

    // A caller that leaves the bus loses its handles.
    {
        let gone = d.connect();
        let auth3 = AuthProxyBlocking::new(&gone).unwrap();
        auth3.begin(USER, "login", "tty1", "").unwrap();
        auth3.begin(USER, "login", "tty1", "").unwrap();
        assert_eq!(admin.status().unwrap().active_handles, 2);
    }
    let mut left = false;
    for _ in 0..100 {
        if admin.status().unwrap().active_handles == 0 {
            left = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(left, "handles of a departed caller were kept");

    // Nothing was stored but the audit trail of the enrollment that never completed.
    assert_eq!(rows(&d), before + 2, "nothing was stored");
    let failed: Vec<_> = d
        .db_events()
        .into_iter()
        .map(|(name, _, outcome, _)| (name, outcome))
        .collect();
    assert_eq!(
        failed[failed.len() - 2..],
        [
            (
                "E_BEHAVIOR_AUTH_ENROLLED".to_string(),
                "failure".to_string()
            ),
            ("E_USER_PIN_ENROLLED".to_string(), "failure".to_string())
        ]
    );
    // Still serving.
    assert!(d.ctl(&["status"]).status.success());
}

#[test]
fn handles_expire() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config("handle_timeout_secs = 1"));
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(b.timeout_secs, 1);
    auth.open_capture(&b.handle).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert!(matches!(
        auth.open_capture(&b.handle),
        Err(Error::NoSuchHandle(_))
    ));
    assert!(matches!(
        auth.finish(&b.handle),
        Err(Error::NoSuchHandle(_))
    ));
}

#[test]
fn garbage_config_is_refused_with_file_line_and_reason() {
    let dir = open_tempdir();
    let check = |text: &str| {
        let path = dir.path().join("behaviord.toml");
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(built("behaviord"))
            .arg("--check-config")
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let shipped = behavior_tests::workspace_root().join("etc/behaviord.toml");
    let out = std::process::Command::new(built("behaviord"))
        .arg("--check-config")
        .arg(&shipped)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    assert!(out.status.success());

    // argon2 costs one machine cannot afford per PIN check: the key, the value, the bound.
    let refused = |file: &str, why: &str| {
        let (code, text) = check(file);
        assert_eq!(code, Some(1), "{file}");
        assert!(text.contains(why), "{text}");
    };
    refused(
        "[pin]\nargon2_memory_kib = 4194304\n",
        "line 2: pin.argon2_memory_kib: 4194304 is out of range 64..=262144",
    );
    refused(
        "[pin]\nargon2_memory_kib = 262144\nargon2_iterations = 8\n",
        "pin.argon2_iterations",
    );
    refused("[pin]\nlength = 2\n", "behaviord.toml: line 2: pin.length");
    let (code, text) = check("phrase = \"x\"\n\n[enrollment]\nbehaviour = true\n");
    assert_eq!(code, Some(1));
    assert!(
        text.contains("line 4") && text.contains("behaviour"),
        "{text}"
    );
    let (code, text) = check("\u{0}\u{1}garbage[[[");
    assert_eq!(code, Some(1));
    assert!(text.contains("line 1"), "{text}");
    let (code, text) = check("default_journey = \"password\"\n");
    assert_eq!(code, Some(1));
    assert!(
        text.contains("line 1") && text.contains("password"),
        "{text}"
    );
    let out = std::process::Command::new(built("behaviord"))
        .args(["--check-config", "/nonexistent/behaviord.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot read"));

    // The daemon refuses to start on it, saying the same.
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config(""));
    let mut d = d;
    d.stop();
    std::fs::write(d.config_path(), "[lockout]\nminutes = \"soon\"\n").unwrap();
    let out = d.command().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("behaviord.toml: line 2"), "{err}");
}

/// `behaviorctl try` as nobody, left waiting for its typing (standard input open); returns
/// once the trial has begun (the phrase is shown) or with the error it printed.
fn trial_as_nobody(d: &Daemon) -> (std::process::Child, Result<(), String>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(built("behaviorctl"))
        .arg("try")
        .env("DBUS_SYSTEM_BUS_ADDRESS", d.bus_address())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stderr).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("behaviorctl try printed nothing within 20 s");
    let begun = if line.contains(FIXTURE_PHRASE) {
        Ok(())
    } else {
        Err(line)
    };
    (child, begun)
}

#[test]
fn one_user_cannot_take_every_trial_slot() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config(""));
    d.enroll(USER, &fixture_subject("subject2")[..5], Some("123456"));
    let mut open = Vec::new();
    for _ in 0..2 {
        let (child, begun) = trial_as_nobody(&d);
        begun.unwrap();
        open.push(child);
    }
    let (mut third, refused) = trial_as_nobody(&d);
    let err = refused.unwrap_err();
    assert!(err.contains("has 2 trials open already"), "{err}");
    assert!(third.wait().unwrap().code() == Some(1));
    // Once those end (their connections close), nobody may try again; the daemon learns of
    // the closed connections from the bus, so this may take a moment.
    for mut child in open {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (mut again, begun) = trial_as_nobody(&d);
        let _ = again.kill();
        again.wait().unwrap();
        match begun {
            Ok(()) => break,
            Err(e) => assert!(std::time::Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
