//! Screen lockers and display managers run PAM again and again in one long-lived process, and
//! libpam cannot unload the module (NODELETE): repeated logins must not leave threads or
//! connections behind. The only test in its binary, so the thread count is its own.
//!
//! Test-only code: panics in helpers are test failures with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pam_harness;

use behavior_tests::PrivateBus;
use pam_harness::*;
use serde_json::json;
use zbus::blocking::fdo::DBusProxy;

const PHRASE: &str = "correct horse battery";

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// `f()` once it equals `want`, or its last value after 5 s: a connection's threads end
/// shortly after it is dropped, later on a loaded machine; one left behind never does.
fn settled(want: usize, f: impl Fn() -> usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = f();
        if now == want || std::time::Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn repeated_logins_leave_no_threads_behind() {
    let bus = PrivateBus::start();
    let mut steps = Vec::new();
    for _ in 0..12 {
        steps.extend([
            json!({"method": "Begin", "return": ["h1", "behavior", "verify", PHRASE, 3, 3, false, false, 4, false, 120]}),
            json!({"method": "OpenCapture", "return": null}),
            json!({"method": "SubmitVerification", "return": ["accepted", 3, ""]}),
            json!({"method": "Finish", "return": [true, ["behavior"]]}),
        ]);
    }
    let mock = MockDaemon::start(&bus, json!(steps));
    let login = Login::new("", bus.address()).answers(&[PHRASE]);
    // The first login starts zbus' process-wide reactor thread.
    assert_eq!(login.run().0, PAM_SUCCESS);
    let after_first = threads();
    for _ in 0..11 {
        assert_eq!(login.run().0, PAM_SUCCESS);
    }
    assert_eq!(settled(after_first, threads), after_first);
    assert_eq!(mock.calls().len(), 48);
    // Every connection was closed: only the bus itself and the mock remain on the bus.
    let conn = bus.connect();
    let names = DBusProxy::new(&conn).unwrap().list_names().unwrap();
    let unique = || {
        DBusProxy::new(&conn)
            .unwrap()
            .list_names()
            .unwrap()
            .iter()
            .filter(|n| n.starts_with(':'))
            .count()
    };
    assert_eq!(settled(2, unique), 2, "{names:?}"); // the mock and this connection
}
