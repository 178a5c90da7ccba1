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

const PHRASE: &str = "correct horse battery";

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
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
    assert_eq!(threads(), after_first);
    assert_eq!(mock.calls().len(), 48);
    // Every connection was closed: only the bus itself and the mock remain on the bus.
    let conn = bus.connect();
    let names = zbus::blocking::fdo::DBusProxy::new(&conn)
        .unwrap()
        .list_names()
        .unwrap();
    let unique = names.iter().filter(|n| n.starts_with(':')).count();
    assert_eq!(unique, 2, "{names:?}"); // the mock and this connection
}
