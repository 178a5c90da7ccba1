//! [`DaemonClient`] over the system D-Bus: zbus proxies driven to completion one call at a
//! time (`async_io::block_on`), with the module's timeout as ONE budget for the whole
//! conversation: connecting and every call together wait on the daemon at most `timeout`
//! (the user's own thinking and typing time is not counted). A daemon slowed down by a
//! flood therefore cannot stretch a login, call by call, far past the timeout.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use behavior_ipc::auth::{AuthProxy, Begin, EnrollStep, Outcome, VerifyStep};
use behavior_ipc::{Error, BUS_NAME};
use zbus::fdo::DBusProxy;
use zbus::names::{OwnedUniqueName, WellKnownName};
use zbus::proxy::CacheProperties;

use crate::flow::DaemonClient;

const SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

/// What an admin is told when the daemon is not there.
const START_HINT: &str =
    "start it with `systemctl start behaviord` (without systemd: see behaviord(8), STARTING BY HAND)";

/// Connects on the first call (so a remote login never touches the bus).
pub struct DbusDaemon {
    /// The budget of time spent waiting on the bus and the daemon.
    timeout: Duration,
    spent: Duration,
    proxy: Option<AuthProxy<'static>>,
}

impl DbusDaemon {
    pub fn new(timeout: Duration) -> DbusDaemon {
        DbusDaemon {
            timeout,
            spent: Duration::ZERO,
            proxy: None,
        }
    }

    /// A new budget (for the commit of a pending enrollment, in a later PAM hook), on the
    /// same connection: the daemon knows the pending handle by this connection's name.
    pub fn renew_budget(&mut self) {
        self.spent = Duration::ZERO;
    }

    /// Runs `fut` within what is left of the budget.
    fn within<T>(&mut self, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let left = self.timeout.saturating_sub(self.spent);
        if left.is_zero() {
            return Err(timed_out("the daemon used up the module's timeout"));
        }
        let started = Instant::now();
        let deadline = async {
            async_io::Timer::after(left).await;
            Err(timed_out(
                "the daemon did not answer within the module's timeout",
            ))
        };
        let out = async_io::block_on(futures_lite::future::or(fut, deadline));
        self.spent += started.elapsed();
        out
    }

    fn proxy(&mut self) -> Result<AuthProxy<'static>, Error> {
        if let Some(proxy) = &self.proxy {
            return Ok(proxy.clone());
        }
        let address = system_bus_address();
        let timeout = self.timeout;
        let proxy = self.within(async {
            let connection = connect(&address, timeout).await?;
            let daemon = root_owner(&connection).await?;
            Ok(AuthProxy::builder(&connection)
                .destination(daemon)?
                .cache_properties(CacheProperties::No)
                .build()
                .await?)
        })?;
        Ok(self.proxy.insert(proxy).clone())
    }
}

fn timed_out(what: &str) -> Error {
    Error::ZBus(zbus::Error::InputOutput(Arc::new(io::Error::new(
        io::ErrorKind::TimedOut,
        what.to_string(),
    ))))
}

/// One sentence for the admin on why the daemon could not be reached.
pub fn describe(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, _, _)
            if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner"
                || name
                    .as_str()
                    .starts_with("org.freedesktop.DBus.Error.Spawn.") =>
        {
            format!("behaviord is not running ({BUS_NAME} has no owner on the system bus); {START_HINT}")
        }
        zbus::Error::InputOutput(io) if io.kind() == io::ErrorKind::TimedOut => {
            format!("behaviord did not answer in time: {io}")
        }
        zbus::Error::InputOutput(io)
            if matches!(
                io.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            format!(
                "the system bus is not running ({}: {io}), so behaviord cannot be reached; {START_HINT}",
                system_bus_address()
            )
        }
        e => format!("cannot talk to behaviord: {e}"),
    }
}

/// The unique name owning [`BUS_NAME`] (activated if need be), refused unless it belongs
/// to root. The shipped bus
/// policy already lets only root own the name; this also holds where that policy is missing.
/// Later calls go to this unique name: a daemon restarted mid-login is not asked about a
/// handle it never issued.
async fn root_owner(connection: &zbus::Connection) -> Result<OwnedUniqueName, Error> {
    let bus = DBusProxy::builder(connection)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let name = WellKnownName::try_from(BUS_NAME).map_err(zbus::Error::from)?;
    // Bus activation (the package ships an activation file): start the daemon if it is not
    // running. A bus that cannot activate it says so; GetNameOwner then finds no owner.
    let _ = bus.start_service_by_name(name.clone(), 0).await;
    let owner = bus
        .get_name_owner(name.into())
        .await
        .map_err(zbus::Error::from)?;
    let uid = bus
        .get_connection_unix_user(owner.as_ref().into())
        .await
        .map_err(zbus::Error::from)?;
    if uid != 0 {
        // Not the daemon: as good as none (the fail mode applies).
        return Err(Error::Unavailable(format!(
            "{BUS_NAME} is owned by uid {uid}, not root"
        )));
    }
    Ok(owner)
}

/// `DBUS_SYSTEM_BUS_ADDRESS` is honoured (tests use it for a private bus) except in a
/// process that gained privileges through exec (`AT_SECURE`: setuid `su`, `sudo`, ...),
/// where the calling user sets it and could point the module at a bus with a fake daemon.
pub fn system_bus_address() -> String {
    if !secure_exec() {
        if let Some(address) = std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS") {
            if let Some(address) = address.to_str().filter(|a| !a.is_empty()) {
                return address.to_string();
            }
        }
    }
    SYSTEM_BUS.to_string()
}

/// This process gained privileges through exec (`AT_SECURE`): its environment was set by
/// a less privileged user.
pub fn secure_exec() -> bool {
    // SAFETY: getauxval has no preconditions; it returns 0 for an absent entry.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Connects to the bus at `address`; every later method call on the connection times out
/// after `timeout` as well (the caller bounds the whole by what is left of its budget).
pub async fn connect(address: &str, timeout: Duration) -> Result<zbus::Connection, Error> {
    Ok(zbus::connection::Builder::address(address)?
        .method_timeout(timeout)
        .build()
        .await?)
}

impl DaemonClient for DbusDaemon {
    fn begin(&mut self, user: &str, service: &str, tty: &str, rhost: &str) -> Result<Begin, Error> {
        let p = self.proxy()?;
        self.within(p.begin(user, service, tty, rhost))
    }
    fn open_capture(&mut self, handle: &str) -> Result<(), Error> {
        let p = self.proxy()?;
        self.within(p.open_capture(handle))
    }
    fn submit_enrollment(&mut self, handle: &str, typed: &str) -> Result<EnrollStep, Error> {
        let p = self.proxy()?;
        self.within(p.submit_enrollment(handle, typed))
    }
    fn skip_enrollment(&mut self, handle: &str) -> Result<(), Error> {
        let p = self.proxy()?;
        self.within(p.skip_enrollment(handle))
    }
    fn submit_verification(&mut self, handle: &str, typed: &str) -> Result<VerifyStep, Error> {
        let p = self.proxy()?;
        self.within(p.submit_verification(handle, typed))
    }
    fn enroll_pin(&mut self, handle: &str, pin: &str) -> Result<(), Error> {
        let p = self.proxy()?;
        self.within(p.enroll_pin(handle, pin))
    }
    fn verify_pin(&mut self, handle: &str, pin: &str) -> Result<VerifyStep, Error> {
        let p = self.proxy()?;
        self.within(p.verify_pin(handle, pin))
    }
    fn finish(&mut self, handle: &str) -> Result<Outcome, Error> {
        let p = self.proxy()?;
        self.within(p.finish(handle))
    }
    fn commit(&mut self, handle: &str) -> Result<(), Error> {
        let p = self.proxy()?;
        self.within(p.commit(handle))
    }
    fn abandon(&mut self, handle: &str) -> Result<(), Error> {
        let p = self.proxy()?;
        self.within(p.abandon(handle))
    }
}
