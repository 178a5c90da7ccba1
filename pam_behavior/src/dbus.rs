//! [`DaemonClient`] over the system D-Bus: zbus blocking proxies, with the module's timeout
//! bounding the connection set-up and every method call.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use behavior_ipc::auth::{AuthProxyBlocking, Begin, EnrollStep, Outcome, VerifyStep};
use behavior_ipc::{Error, BUS_NAME};
use zbus::blocking::fdo::DBusProxy;
use zbus::names::{OwnedUniqueName, WellKnownName};
use zbus::proxy::CacheProperties;

use crate::flow::DaemonClient;

const SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

/// Connects on the first call (so a remote login never touches the bus).
pub struct DbusDaemon {
    timeout: Duration,
    proxy: Option<AuthProxyBlocking<'static>>,
}

impl DbusDaemon {
    pub fn new(timeout: Duration) -> DbusDaemon {
        DbusDaemon {
            timeout,
            proxy: None,
        }
    }

    fn proxy(&mut self) -> Result<&AuthProxyBlocking<'static>, Error> {
        let proxy = match self.proxy.take() {
            Some(proxy) => proxy,
            None => {
                let connection = connect(&system_bus_address(), self.timeout)?;
                let daemon = root_owner(&connection)?;
                AuthProxyBlocking::builder(&connection)
                    .destination(daemon)?
                    .cache_properties(CacheProperties::No)
                    .build()?
            }
        };
        Ok(self.proxy.insert(proxy))
    }
}

/// The unique name owning [`BUS_NAME`] (activated if need be), refused unless it belongs
/// to root. The shipped bus
/// policy already lets only root own the name; this also holds where that policy is missing.
/// Later calls go to this unique name: a daemon restarted mid-login is not asked about a
/// handle it never issued.
fn root_owner(connection: &zbus::blocking::Connection) -> Result<OwnedUniqueName, Error> {
    let bus = DBusProxy::builder(connection)
        .cache_properties(CacheProperties::No)
        .build()?;
    let name = WellKnownName::try_from(BUS_NAME).map_err(zbus::Error::from)?;
    // Bus activation (the package ships an activation file): start the daemon if it is not
    // running. A bus that cannot activate it says so; GetNameOwner then finds no owner.
    let _ = bus.start_service_by_name(name.clone(), 0);
    let owner = bus.get_name_owner(name.into()).map_err(zbus::Error::from)?;
    let uid = bus
        .get_connection_unix_user(owner.as_ref().into())
        .map_err(zbus::Error::from)?;
    if uid != 0 {
        return Err(Error::AccessDenied(format!(
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

/// Connects to the bus at `address`, giving up after `timeout` (a stopped or overloaded
/// bus would otherwise hold the login forever in the handshake); every later method call
/// on the connection times out after `timeout` as well.
pub fn connect(address: &str, timeout: Duration) -> Result<zbus::blocking::Connection, Error> {
    let build = async {
        zbus::connection::Builder::address(address)?
            .method_timeout(timeout)
            .build()
            .await
    };
    let deadline = async {
        async_io::Timer::after(timeout).await;
        Err(zbus::Error::InputOutput(Arc::new(io::Error::new(
            io::ErrorKind::TimedOut,
            "connecting to the system bus timed out",
        ))))
    };
    let connection = async_io::block_on(futures_lite::future::or(build, deadline))?;
    Ok(connection.into())
}

impl DaemonClient for DbusDaemon {
    fn begin(&mut self, user: &str, service: &str, tty: &str, rhost: &str) -> Result<Begin, Error> {
        self.proxy()?.begin(user, service, tty, rhost)
    }
    fn open_capture(&mut self, handle: &str) -> Result<(), Error> {
        self.proxy()?.open_capture(handle)
    }
    fn submit_enrollment(&mut self, handle: &str, typed: &str) -> Result<EnrollStep, Error> {
        self.proxy()?.submit_enrollment(handle, typed)
    }
    fn skip_enrollment(&mut self, handle: &str) -> Result<(), Error> {
        self.proxy()?.skip_enrollment(handle)
    }
    fn submit_verification(&mut self, handle: &str, typed: &str) -> Result<VerifyStep, Error> {
        self.proxy()?.submit_verification(handle, typed)
    }
    fn enroll_pin(&mut self, handle: &str, pin: &str) -> Result<(), Error> {
        self.proxy()?.enroll_pin(handle, pin)
    }
    fn verify_pin(&mut self, handle: &str, pin: &str) -> Result<VerifyStep, Error> {
        self.proxy()?.verify_pin(handle, pin)
    }
    fn finish(&mut self, handle: &str) -> Result<Outcome, Error> {
        self.proxy()?.finish(handle)
    }
}
