//! An unprivileged caller (`setpriv --reuid=nobody`) on the private bus with the shipped
//! policy: refused on every method that needs root, with nothing changed; allowed its own
//! self-service and its own screen unlock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use behavior_ipc::auth::AuthProxyBlocking;
use behavior_tests::{fixture_subject, Daemon, PrivateBus, FIXTURE_PHRASE};

const USER: &str = "nobody";

fn config() -> String {
    format!(
        "phrase = \"{FIXTURE_PHRASE}\"\n[enrollment]\nbehavior = true\npin = true\n\
         [pin]\nargon2_memory_kib = 256\nargon2_iterations = 1\n"
    )
}

/// `busctl call` as nobody.
fn busctl_as_nobody(d: &Daemon, path: &str, iface: &str, method: &str, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "busctl",
        ])
        .arg(format!("--address={}", d.bus_address()))
        .args(["call", "org.behaviord.Behavior1", path, iface, method])
        .args(args)
        .output()
        .unwrap()
}

/// Everything a refused call could have changed.
fn snapshot(d: &Daemon) -> Vec<i64> {
    [
        "SELECT COUNT(*) FROM events",
        "SELECT COUNT(*) FROM templates",
        "SELECT COUNT(*) FROM pins",
        "SELECT COUNT(*) FROM settings",
        "SELECT COALESCE(SUM(failures + locked_until), 0) FROM lockouts",
        "SELECT COALESCE(SUM(set_at), 0) FROM pins",
        "SELECT COALESCE(SUM(updated_at), 0) FROM templates",
    ]
    .iter()
    .map(|q| d.db_count(q))
    .collect()
}

#[test]
fn nobody_is_refused_every_root_method_and_changes_nothing() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config());
    let typings = fixture_subject("subject2");
    d.enroll(USER, &typings[..5], Some("123456"));
    // A login in progress, begun by root.
    let conn = d.connect();
    let auth = AuthProxyBlocking::new(&conn).unwrap();
    let root_handle = auth.begin(USER, "login", "tty1", "").unwrap().handle;
    let before = snapshot(&d);

    let auth_path = "/org/behaviord/Auth";
    let admin_path = "/org/behaviord/Admin";
    let a = "org.behaviord.Auth1";
    let m = "org.behaviord.Admin1";
    let h = root_handle.as_str();
    let calls: Vec<(&str, &str, &str, Vec<&str>, &str)> = vec![
        // Auth1 is open at the bus; the daemon refuses by uid or by handle owner.
        (
            auth_path,
            a,
            "Begin",
            vec!["ssss", "root", "login", "tty1", ""],
            "another user",
        ),
        (auth_path, a, "OpenCapture", vec!["s", h], "handle"),
        (
            auth_path,
            a,
            "SubmitEnrollment",
            vec!["ss", h, FIXTURE_PHRASE],
            "handle",
        ),
        (auth_path, a, "SkipEnrollment", vec!["s", h], "handle"),
        (
            auth_path,
            a,
            "SubmitVerification",
            vec!["ss", h, FIXTURE_PHRASE],
            "handle",
        ),
        (auth_path, a, "EnrollPin", vec!["ss", h, "111111"], "handle"),
        (auth_path, a, "VerifyPin", vec!["ss", h, "123456"], "handle"),
        (auth_path, a, "Finish", vec!["s", h], "handle"),
        // Admin1 and Test1 are closed at the bus already.
        (admin_path, m, "Status", vec![], "denied"),
        (admin_path, m, "Users", vec![], "denied"),
        (admin_path, m, "ShowUser", vec!["s", USER], "denied"),
        (admin_path, m, "RemovePattern", vec!["s", USER], "denied"),
        (admin_path, m, "RemovePin", vec!["s", USER], "denied"),
        (
            admin_path,
            m,
            "SetPin",
            vec!["ss", USER, "999999"],
            "denied",
        ),
        (admin_path, m, "ResetLockout", vec!["s", USER], "denied"),
        (
            admin_path,
            m,
            "Events",
            vec!["(ssxxu)", "", "", "0", "0", "10"],
            "denied",
        ),
        (admin_path, m, "Settings", vec![], "denied"),
        (
            admin_path,
            m,
            "Set",
            vec!["ss", "enrollment.behavior", "false"],
            "denied",
        ),
        (
            admin_path,
            m,
            "Unset",
            vec!["s", "enrollment.behavior"],
            "denied",
        ),
        (admin_path, m, "Policy", vec![], "denied"),
        (
            "/org/behaviord/Test",
            "org.behaviord.Test1",
            "InjectKeys",
            vec!["a(sdd)", "1", "a", "0", "50"],
            "denied",
        ),
    ];
    for (path, iface, method, args, why) in &calls {
        let out = busctl_as_nobody(&d, path, iface, method, args);
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            !out.status.success(),
            "{iface}.{method} succeeded for nobody"
        );
        assert!(err.contains(why), "{iface}.{method}: {err}");
    }
    // Starting an enrollment for oneself also takes root.
    let out = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "busctl",
        ])
        .arg(format!("--address={}", d.bus_address()))
        .args([
            "call",
            "org.behaviord.Behavior1",
            auth_path,
            a,
            "Begin",
            "ssss",
            "root",
            "x",
            "",
            "",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // behaviorctl as nobody: every admin command fails with a sentence.
    for args in [
        vec!["status"],
        vec!["users"],
        vec!["show", USER],
        vec!["remove-pattern", USER],
        vec!["remove-pin", USER],
        vec!["reset-lockout", USER],
        vec!["events"],
        vec!["settings"],
        vec!["set", "enrollment.behavior", "false"],
        vec!["unset", "enrollment.behavior"],
        vec!["policy"],
    ] {
        let out = d.ctl_as_nobody(&args, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded for nobody");
        assert!(err.contains("access denied"), "{args:?}: {err}");
    }
    let out = d.ctl_as_nobody(&["set-pin", "root"], Some("999999\n"));
    assert!(!out.status.success());

    assert_eq!(snapshot(&d), before, "a refused call changed the database");
    // The root login is untouched and still usable by its owner.
    auth.open_capture(&root_handle).unwrap();
    assert!(!auth.finish(&root_handle).unwrap().success);

    // What nobody may do: read their own status, unlock their own screen (verify).
    let out = d.ctl_as_nobody(&["me"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = busctl_as_nobody(
        &d,
        auth_path,
        a,
        "Begin",
        &["ssss", USER, "screensaver", "tty1", ""],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\"verify\""), "{text}");
}

/// Defence in depth: on a bus that lets every call through, the daemon itself refuses a
/// non-root caller on Admin1 and Test1 (uid from the bus), again with nothing changed.
#[test]
fn the_daemon_refuses_non_root_even_when_the_bus_lets_it_through() {
    let bus = PrivateBus::start_open();
    let d = Daemon::start(&bus, &config());
    d.enroll(USER, &fixture_subject("subject2")[..5], Some("123456"));
    let before = snapshot(&d);
    let admin_path = "/org/behaviord/Admin";
    let m = "org.behaviord.Admin1";
    let calls: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        (admin_path, m, "Status", vec![]),
        (admin_path, m, "Users", vec![]),
        (admin_path, m, "ShowUser", vec!["s", USER]),
        (admin_path, m, "RemovePattern", vec!["s", USER]),
        (admin_path, m, "RemovePin", vec!["s", USER]),
        (admin_path, m, "SetPin", vec!["ss", USER, "999999"]),
        (admin_path, m, "ResetLockout", vec!["s", USER]),
        (
            admin_path,
            m,
            "Events",
            vec!["(ssxxu)", "", "", "0", "0", "10"],
        ),
        (admin_path, m, "Settings", vec![]),
        (
            admin_path,
            m,
            "Set",
            vec!["ss", "enrollment.behavior", "false"],
        ),
        (admin_path, m, "Unset", vec!["s", "enrollment.behavior"]),
        (admin_path, m, "Policy", vec![]),
        (
            "/org/behaviord/Test",
            "org.behaviord.Test1",
            "InjectKeys",
            vec!["a(sdd)", "1", "a", "0", "50"],
        ),
    ];
    for (path, iface, method, args) in &calls {
        let out = busctl_as_nobody(&d, path, iface, method, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{iface}.{method} succeeded for nobody"
        );
        assert!(
            err.contains("only root may call this method"),
            "{iface}.{method}: {err}"
        );
    }
    assert_eq!(snapshot(&d), before);
}

/// A listener counting `Admin1.EventLogged` signals for 1.5 s, running
/// as `as_nobody` or root (python3-dbus, installed with python3-dbusmock).
fn listen_for_events(d: &Daemon, as_nobody: bool) -> Child {
    let script = r#"
import sys, dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib
DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])
count = [0]
def got(*args):
    count[0] += 1
bus.add_signal_receiver(got, signal_name="EventLogged", dbus_interface="org.behaviord.Admin1")
print("ready", flush=True)
loop = GLib.MainLoop()
GLib.timeout_add(1500, loop.quit)
loop.run()
print(count[0], flush=True)
"#;
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "/usr/bin/python3",
        ]);
        c
    } else {
        Command::new("/usr/bin/python3")
    };
    cmd.args(["-c", script, d.bus_address()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Audit events are broadcast as signals; the shipped policy delivers them to root only.
#[test]
fn audit_signals_reach_root_only() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config());
    let mut listeners: Vec<(bool, Child, BufReader<std::process::ChildStdout>)> = [true, false]
        .into_iter()
        .map(|nobody| {
            let mut child = listen_for_events(&d, nobody);
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "ready");
            (nobody, child, out)
        })
        .collect();
    for i in 0..3 {
        let value = if i % 2 == 0 { "4" } else { "5" };
        assert!(d.ctl(&["set", "verify.max_tries", value]).status.success());
    }
    for (nobody, child, out) in listeners.iter_mut() {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        child.wait().unwrap();
        let n: u32 = line.trim().parse().unwrap();
        if *nobody {
            assert_eq!(n, 0, "nobody received audit events");
        } else {
            assert_eq!(n, 3, "root's listener missed events");
        }
    }
}

/// `bus_flood` (User1.Status and Auth1.Begin from 2 threads as fast as answered) as nobody
/// for `secs`; its report line.
fn flood_as_nobody(d: &Daemon, secs: &str) -> Child {
    Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(behavior_tests::built("bus_flood"))
        .args([secs, "2"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", d.bus_address())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The `name=N` figure of a `bus_flood` report.
fn figure(report: &str, name: &str) -> u64 {
    report
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {report:?}"))
}

#[test]
fn an_unprivileged_flood_is_rate_limited_and_root_is_not() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, &config());
    let flood = flood_as_nobody(&d, "3");
    // Root's calls during the flood: never refused, each answered promptly.
    let conn = zbus::blocking::connection::Builder::address(d.bus_address())
        .unwrap()
        .method_timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let admin = behavior_ipc::admin::AdminProxyBlocking::new(&conn).unwrap();
    let started = std::time::Instant::now();
    let mut slowest = std::time::Duration::ZERO;
    while started.elapsed() < std::time::Duration::from_secs(2) {
        let t = std::time::Instant::now();
        admin.status().unwrap();
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < std::time::Duration::from_secs(1),
        "root waited {slowest:?}"
    );
    let out = flood.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    // A burst of 20, then 10 a second: over 3 s at most about 50 answered, the rest refused
    // (each refusal answered a second later).
    let answered = figure(&report, "ok") + figure(&report, "other");
    assert!(figure(&report, "refused") > 0, "{report}");
    assert!(answered <= 20 + 10 * 4, "{report}");
    // Two seconds later nobody is served again: the limit is a rate, not a ban.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let status = busctl_as_nobody(
        &d,
        "/org/behaviord/User",
        "org.behaviord.User1",
        "Status",
        &[],
    );
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}
