//! python-dbusmock's logind template as `org.freedesktop.login1` on a [`PrivateBus`]: the
//! sessions a test adds, methods it overrides, and a record of every call made to it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zbus::zvariant::{ObjectPath, OwnedValue, Value};

use crate::PrivateBus;

pub const LOGIND: &str = "org.freedesktop.login1";
pub const ROOT: &str = "/org/freedesktop/login1";
pub const MANAGER: &str = "org.freedesktop.login1.Manager";
pub const SESSION: &str = "org.freedesktop.login1.Session";
const MOCK: &str = "org.freedesktop.DBus.Mock";
/// logind's answer for a process in no session.
pub const NO_SESSION: &str = "raise dbus.exceptions.DBusException('no session', \
                              name='org.freedesktop.login1.NoSessionForPID')";

/// The mock logind process; killed on drop.
pub struct MockLogind {
    child: Child,
    conn: zbus::blocking::Connection,
}

pub fn session_path(id: &str) -> String {
    format!("{ROOT}/session/{id}")
}

impl MockLogind {
    /// Starts it and waits (up to 20 s) until it owns logind's name.
    pub fn start(bus: &PrivateBus) -> MockLogind {
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "dbusmock", "--system", "--template", "logind"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
            .stdout(Stdio::null())
            .spawn()
            .expect("python3-dbusmock must be installed (Debian package python3-dbusmock)");
        let mock = MockLogind {
            child,
            conn: bus.connect(),
        };
        let dbus = zbus::blocking::fdo::DBusProxy::new(&mock.conn).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dbus.name_has_owner(LOGIND.try_into().unwrap()).unwrap() {
            assert!(Instant::now() < deadline, "dbusmock logind did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The template lacks it: no process is in a session until a test says otherwise.
        mock.set_method(ROOT, MANAGER, "GetSessionByPID", ("u", "o"), NO_SESSION);
        mock
    }

    /// Calls the mock's control interface on `path`.
    pub fn mock_call<B>(&self, path: &str, method: &str, body: &B) -> zbus::Message
    where
        B: zbus::export::serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(LOGIND), path, Some(MOCK), method, body)
            .unwrap()
    }

    /// A session of `user` on `seat` (logind's template: local, class `user`).
    pub fn add_session(&self, id: &str, seat: &str, uid: u32, user: &str, active: bool) {
        self.mock_call(ROOT, "AddSession", &(id, seat, uid, user, active));
    }

    /// Changes a session property, emitting `PropertiesChanged` as logind does.
    pub fn set_session(&self, id: &str, name: &str, value: Value<'_>) {
        self.conn
            .call_method(
                Some(LOGIND),
                session_path(id).as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Set",
                &(SESSION, name, value),
            )
            .unwrap();
    }

    /// Replaces (or adds) a method of `interface` at `path` with python `code` (see
    /// dbusmock's `AddMethod`: `args` are the call's arguments, `ret` the reply).
    pub fn set_method(
        &self,
        path: &str,
        interface: &str,
        name: &str,
        sig: (&str, &str),
        code: &str,
    ) {
        self.mock_call(path, "AddMethod", &(interface, name, sig.0, sig.1, code));
    }

    /// A screen locker that answers logind: `LockSession` sets the session's `LockedHint`
    /// (the template's `LockSession` locks nothing, as logind without a locker).
    pub fn lock_screen_on_lock_session(&self) {
        let code = format!(
            "objects['{ROOT}/session/' + args[0]].UpdateProperties('{SESSION}', {{'LockedHint': dbus.Boolean(True)}})"
        );
        self.set_method(ROOT, MANAGER, "LockSession", ("s", ""), &code);
    }

    /// Emits a signal from `path` as logind would.
    pub fn emit(&self, path: &str, iface: &str, name: &str, sig: &str, args: Vec<Value<'_>>) {
        self.mock_call(path, "EmitSignal", &(iface, name, sig, args));
    }

    /// A session the mock adds, announced with `SessionNew` as logind does.
    pub fn open_session(&self, id: &str, seat: &str, uid: u32, user: &str, active: bool) {
        self.add_session(id, seat, uid, user, active);
        let path = ObjectPath::try_from(session_path(id)).unwrap();
        let args = vec![Value::from(id), Value::from(path)];
        self.emit(ROOT, MANAGER, "SessionNew", "so", args);
    }

    /// The first argument of every call of `method` made to the manager (a session id, a
    /// pid).
    pub fn calls(&self, method: &str) -> Vec<OwnedValue> {
        let reply = self.mock_call(ROOT, "GetMethodCalls", &(method,));
        let calls: Vec<(u64, Vec<OwnedValue>)> = reply.body().deserialize().unwrap();
        calls
            .into_iter()
            .filter_map(|(_, args)| args.into_iter().next())
            .collect()
    }

    /// The session ids `method` (`LockSession`, `TerminateSession`) was called with.
    pub fn session_calls(&self, method: &str) -> Vec<String> {
        self.calls(method)
            .into_iter()
            .map(|v| String::try_from(v).unwrap())
            .collect()
    }
}

impl Drop for MockLogind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
