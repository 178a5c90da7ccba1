//! Lifecycle: SIGTERM finishes the call in progress and closes the database; a second
//! instance refuses; a corrupt or unusable database is reported and never yields success;
//! kill -9 during enrollment or a PIN change leaves the old or the new state, never half.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use behavior_ipc::admin::AdminProxyBlocking;
use behavior_ipc::auth::{AuthProxyBlocking, EnrollStatus, Stage, VerifyStatus};
use behavior_ipc::Error;
use behavior_tests::{fixture_subject, Daemon, PrivateBus, FIXTURE_PHRASE};

const USER: &str = "nobody";

fn config(argon2_kib: u32) -> String {
    format!(
        "phrase = \"{FIXTURE_PHRASE}\"\n[enrollment]\nbehavior = true\npin = true\n\
         [pin]\nargon2_memory_kib = {argon2_kib}\nargon2_iterations = 1\n"
    )
}

#[test]
fn sigterm_finishes_the_call_in_progress() {
    let bus = PrivateBus::start();
    // A costly hash (unoptimised build) so SIGTERM lands while SetPin runs.
    let mut d = Daemon::start(&bus, &config(256 * 1024));
    let conn = d.connect();
    let call = std::thread::spawn(move || {
        let admin = AdminProxyBlocking::new(&conn).unwrap();
        admin.set_pin(USER, "123456")
    });
    std::thread::sleep(Duration::from_millis(150));
    let status = d.stop();
    assert!(status.success(), "exit status {status}");
    call.join()
        .unwrap()
        .expect("the call in progress completed");
    // Checkpointed and closed: the WAL is empty.
    let wal = d.db_path().with_extension("db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "WAL left behind"
    );
    d.restart();
    assert_eq!(d.db_count("SELECT COUNT(*) FROM pins"), 1);
}

#[test]
fn a_second_instance_refuses() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config(256));
    // Same state directory: the lock.
    let out = d.command().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
    // Another state directory, same bus: the name.
    let dir = behavior_tests::open_tempdir();
    let out = std::process::Command::new(behavior_tests::built("behaviord"))
        .env("DBUS_SYSTEM_BUS_ADDRESS", d.bus_address())
        .arg("--config")
        .arg(d.config_path())
        .arg("--state-dir")
        .arg(dir.path().join("other"))
        .arg("--syslog-socket")
        .arg(d.syslog.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already owned"), "{err}");
    assert!(
        d.ctl(&["status"]).status.success(),
        "the first one still serves"
    );
}

#[test]
fn corrupt_or_unusable_database_is_reported() {
    let bus = PrivateBus::start();
    let mut d = Daemon::start(&bus, &config(256));
    d.enroll(USER, &fixture_subject("subject2")[..5], Some("123456"));

    // A corrupt row: named in the error, no success, the daemon keeps serving.
    {
        let db = rusqlite::Connection::open(d.db_path()).unwrap();
        db.execute(
            "UPDATE templates SET template = '{\"version\": 1, \"garbage\": true}'",
            [],
        )
        .unwrap();
    }
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    // Refused, never the fail mode: nothing can be verified against it.
    match auth.begin(USER, "login", "tty1", "") {
        Err(Error::Refused(m)) => assert!(m.contains("templates[nobody]"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let out = d.ctl(&["show", USER]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("templates[nobody]"));
    assert!(d.ctl(&["status"]).status.success());

    // A corrupt file: refused at start, naming it.
    d.stop();
    std::fs::write(d.db_path(), vec![0x5a; 8192]).unwrap();
    let out = d.command().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("behaviord.db") && err.contains("not a usable SQLite database"),
        "{err}"
    );

    // An unusable path (a directory where the file should be).
    std::fs::remove_file(d.db_path()).unwrap();
    std::fs::create_dir(d.db_path()).unwrap();
    let out = d.command().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("behaviord.db"));
}

#[test]
fn kill9_during_enrollment_keeps_old_or_new_state() {
    let bus = PrivateBus::start();
    let mut d = Daemon::start(&bus, &config(256));
    let typings = fixture_subject("subject2");

    // Killed mid-enrollment: nothing of it remains.
    {
        let conn = d.connect();
        let auth = AuthProxyBlocking::new(&conn).unwrap();
        let b = auth.begin(USER, "login", "tty1", "").unwrap();
        for t in &typings[..3] {
            auth.open_capture(&b.handle).unwrap();
            d.inject(&conn, t);
            assert_eq!(
                auth.submit_enrollment(&b.handle, FIXTURE_PHRASE)
                    .unwrap()
                    .status,
                EnrollStatus::Accepted
            );
        }
        d.kill9();
    }
    d.restart();
    assert_eq!(d.db_count("SELECT COUNT(*) FROM templates"), 0);
    assert_eq!(d.db_count("SELECT COUNT(*) FROM events"), 0);
    // Killed right after completing: the whole new state is there.
    d.enroll(USER, &typings[..5], Some("123456"));
    d.kill9();
    d.restart();
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    let b = auth.begin(USER, "login", "tty1", "").unwrap();
    assert_eq!(b.stage, Stage::Verify);
    assert!(b.pin_verify);
    assert_eq!(
        d.db_count("SELECT COUNT(*) FROM events WHERE name = 'E_BEHAVIOR_AUTH_ENROLLED'"),
        1
    );
}

#[test]
fn kill9_during_pin_changes_keeps_one_whole_pin() {
    let bus = PrivateBus::start();
    let mut d = Daemon::start(&bus, &config(4096));
    let pins = ["111111", "222222"];
    for round in 0..3u64 {
        let conn = d.connect();
        let writer = std::thread::spawn(move || {
            let admin = AdminProxyBlocking::new(&conn).unwrap();
            let mut done = 0;
            for i in 0.. {
                if admin.set_pin(USER, pins[i % 2]).is_err() {
                    break;
                }
                done += 1;
            }
            done
        });
        std::thread::sleep(Duration::from_millis(150 + 70 * round));
        d.kill9();
        let _ = writer.join().unwrap();
        d.restart();
        assert_eq!(d.db_count("SELECT COUNT(*) FROM pins"), 1);
        let conn = d.connect();
        let auth = AuthProxyBlocking::new(&conn).unwrap();
        let mut accepted = 0;
        for pin in pins {
            let b = auth.begin(USER, "login", "tty1", "").unwrap();
            if auth.verify_pin(&b.handle, pin).unwrap().status == VerifyStatus::Accepted {
                accepted += 1;
            }
            auth.finish(&b.handle).unwrap();
        }
        assert_eq!(
            accepted, 1,
            "exactly one whole PIN after kill -9 (round {round})"
        );
        // Each stored PIN has its event, and no event lacks its PIN change.
        let changes = d.db_count(
            "SELECT COUNT(*) FROM events WHERE name IN ('E_USER_PIN_ENROLLED', 'E_USER_PIN_UPDATED')",
        );
        assert!(changes >= 1);
    }
}
