//! The reader thread: every keyboard node under the input directory, followed through
//! hotplug (inotify), polled together with a wake-up socket that stops the thread.

use super::device::{self, Skip};
use super::pump::{Open, Pump, PumpError, Shared};
use super::{InputConfig, Keyboard};
use crate::keyevent::{DeviceId, KeyEvent};
use evdev::raw_stream::RawDevice;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// Events on the input directory that can make a node appear, become readable or vanish.
const DIR_EVENTS: WatchMask = WatchMask::CREATE
    .union(WatchMask::ATTRIB)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM);

/// Poll slots: the stop socket, the sync socket, inotify, then the devices.
const FIRST_DEVICE: usize = 3;

enum Watch {
    /// Watching the input directory itself.
    Dir(WatchDescriptor),
    /// The directory does not exist yet (a machine without input devices): watching its
    /// parent until it is created.
    Parent(WatchDescriptor),
}

pub(crate) struct Watcher {
    cfg: InputConfig,
    inotify: Inotify,
    watch: Watch,
    devices: Vec<Open<RawDevice>>,
    pump: Pump,
    next_id: DeviceId,
}

impl Watcher {
    /// Watches the directory and opens the keyboards already there.
    pub(crate) fn new(
        cfg: InputConfig,
        tx: UnboundedSender<KeyEvent>,
        shared: Arc<Shared>,
    ) -> io::Result<Watcher> {
        let inotify = Inotify::init()?;
        let mut w = Watcher {
            watch: watch_dir(&inotify, &cfg.dir)?,
            cfg,
            inotify,
            devices: Vec::new(),
            pump: Pump::new(tx, shared),
            next_id: 1,
        };
        w.rescan();
        Ok(w)
    }

    /// Reads until `wake` becomes readable (or closes) or the consumer goes away; returns
    /// why it stopped. A byte on `sync` asks for every device to be drained now (see
    /// [`super::InputHandle::sync`]).
    pub(crate) fn run(mut self, mut wake: UnixStream, mut sync: UnixStream) -> String {
        loop {
            let ready = match self.poll_all(&wake, &sync, PollTimeout::NONE) {
                Ok(ready) => ready,
                Err(why) => return why,
            };
            let is_ready = |i: usize| ready.get(i).is_some_and(|r| !r.is_empty());
            if is_ready(0) {
                let _ = wake.read(&mut [0u8; 8]);
                return "stopped".to_string();
            }
            if let Err(why) = self.drain_ready(&ready[FIRST_DEVICE..]) {
                return why;
            }
            if is_ready(1) {
                // Read the requests before noting how many there are: a request whose byte
                // is read here is then counted, and served by the drain below.
                let _ = sync.read(&mut [0u8; 64]);
                let serving = self.pump.shared().sync_requests.load(Ordering::SeqCst);
                if let Err(why) = self.drain_until_idle(&wake, &sync) {
                    return why;
                }
                self.pump.shared().served(serving);
            }
            if is_ready(2) {
                if let Err(e) = self.on_inotify() {
                    return format!("watching {} failed: {e}", self.cfg.dir.display());
                }
            }
        }
    }

    /// Polls the wake and sync sockets, inotify and every device; returns each one's
    /// readiness, devices from [`FIRST_DEVICE`] on.
    fn poll_all(
        &self,
        wake: &UnixStream,
        sync: &UnixStream,
        timeout: PollTimeout,
    ) -> Result<Vec<PollFlags>, String> {
        let mut fds = Vec::with_capacity(FIRST_DEVICE + self.devices.len());
        fds.push(PollFd::new(wake.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(sync.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN));
        for d in &self.devices {
            fds.push(PollFd::new(d.source.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(format!("polling input devices failed: {e}")),
        }
        Ok(fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect())
    }

    /// Forwards what the ready devices have (`ready` lines up with `devices`) and drops the
    /// ones that failed or hung up.
    fn drain_ready(&mut self, ready: &[PollFlags]) -> Result<(), String> {
        let mut gone = Vec::new();
        let broken = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
        for (i, dev) in self.devices.iter_mut().enumerate() {
            let Some(r) = ready.get(i).filter(|r| !r.is_empty()) else {
                continue;
            };
            match self.pump.drain(dev) {
                // A hung-up node that still reads without error would otherwise spin.
                Ok(()) if r.intersects(broken) => gone.push(i),
                Ok(()) => {}
                Err(PumpError::DeviceFailed) => gone.push(i),
                Err(PumpError::ConsumerGone) => return Err("the key event receiver closed".into()),
            }
        }
        for i in gone.into_iter().rev() {
            let dev = self.devices.remove(i);
            self.pump.remove(&dev);
        }
        Ok(())
    }

    /// Drains every device until none has anything left (a read returns at most one batch).
    fn drain_until_idle(&mut self, wake: &UnixStream, sync: &UnixStream) -> Result<(), String> {
        loop {
            let ready = self.poll_all(wake, sync, PollTimeout::ZERO)?;
            let devices = &ready[FIRST_DEVICE..];
            if devices.iter().all(|r| r.is_empty()) {
                return Ok(());
            }
            self.drain_ready(devices)?;
        }
    }

    fn on_inotify(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let mut changes: Vec<(EventMask, Option<OsString>, bool)> = Vec::new();
        loop {
            match self.inotify.read_events(&mut buf) {
                Ok(events) => changes.extend(events.map(|e| {
                    let from_dir = matches!(&self.watch, Watch::Dir(wd) if *wd == e.wd);
                    (e.mask, e.name.map(|n| n.to_os_string()), from_dir)
                })),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        for (mask, name, from_dir) in changes {
            if mask.contains(EventMask::Q_OVERFLOW) {
                self.rescan();
                continue;
            }
            let Some(name) = name else { continue };
            if !from_dir {
                // The parent: has the input directory appeared?
                if Some(name.as_os_str()) == self.cfg.dir.file_name() {
                    if let Watch::Parent(wd) = &self.watch {
                        let _ = self.inotify.watches().remove(wd.clone());
                    }
                    self.watch = watch_dir(&self.inotify, &self.cfg.dir)?;
                    self.rescan();
                }
                continue;
            }
            let path = self.cfg.dir.join(&name);
            if mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
                self.remove_path(&path);
            } else if is_event_node(&path) {
                self.add(&path);
            }
        }
        Ok(())
    }

    /// Opens every keyboard node not open yet and forgets nodes that are gone.
    fn rescan(&mut self) {
        let gone: Vec<PathBuf> = self
            .devices
            .iter()
            .filter(|d| !d.info.path.exists())
            .map(|d| d.info.path.clone())
            .collect();
        for path in gone {
            self.remove_path(&path);
        }
        let Ok(entries) = std::fs::read_dir(&self.cfg.dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_event_node(p))
            .collect();
        paths.sort();
        for path in paths {
            self.add(&path);
        }
    }

    fn add(&mut self, path: &Path) {
        if self.devices.iter().any(|d| d.info.path == path) {
            return;
        }
        match device::open(path, self.cfg.allow_virtual) {
            Ok(opened) => {
                let info = Keyboard {
                    id: self.next_id,
                    path: path.to_path_buf(),
                    name: opened.name,
                    is_virtual: opened.is_virtual,
                    seat: opened.seat,
                };
                self.next_id = self.next_id.wrapping_add(1);
                let dev = Open::new(info, opened.dev);
                self.pump.add(&dev);
                self.devices.push(dev);
            }
            // Not readable now (IN_ATTRIB retries once udev has set it up), not a keyboard,
            // or a virtual device that is not allowed: not read.
            Err(Skip::Unreadable | Skip::NotKeyboard | Skip::Virtual) => {}
        }
    }

    /// Forgets the device at `path`, after forwarding what it still had buffered.
    fn remove_path(&mut self, path: &Path) {
        if let Some(i) = self.devices.iter().position(|d| d.info.path == path) {
            let mut dev = self.devices.remove(i);
            // A failure here is the device being gone already; a closed receiver is noticed
            // by the next read.
            let _ = self.pump.drain(&mut dev);
            self.pump.remove(&dev);
        }
    }
}

fn is_event_node(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("event"))
}

fn watch_dir(inotify: &Inotify, dir: &Path) -> io::Result<Watch> {
    match inotify.watches().add(dir, DIR_EVENTS) {
        Ok(wd) => Ok(Watch::Dir(wd)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = dir.parent().ok_or(e)?;
            let wd = inotify
                .watches()
                .add(parent, WatchMask::CREATE | WatchMask::MOVED_TO)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot watch {} nor its parent {}: {e}",
                            dir.display(),
                            parent.display()
                        ),
                    )
                })?;
            // It may have appeared between the two calls.
            if dir.is_dir() {
                let _ = inotify.watches().remove(wd);
                return watch_dir(inotify, dir);
            }
            Ok(Watch::Parent(wd))
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot watch {}: {e}", dir.display()),
        )),
    }
}
