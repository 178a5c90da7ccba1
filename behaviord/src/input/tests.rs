//! Host tests: recorded raw events replayed through the same decode-and-forward code as
//! live devices, and the reader on directories without real devices. The real devices are
//! exercised in the VM test (`tests/tests/vm_capture.rs`).

use super::pump::{Open, Pump, PumpError, Recorded, Shared};
use super::*;
use evdev::InputEvent;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

const EV_SYN: u16 = 0;
const EV_KEY: u16 = 1;
const EV_REL: u16 = 2;
const EV_MSC: u16 = 4;
const SYN_DROPPED: u16 = 3;
const KEY_A: u16 = 30;
const KEY_B: u16 = 48;
const KEY_LEFTSHIFT: u16 = 42;
const BTN_LEFT: u16 = 0x110;

/// A recorded `input_event` at `us` microseconds.
fn raw(us: i64, type_: u16, code: u16, value: i32) -> InputEvent {
    libc::input_event {
        time: libc::timeval {
            tv_sec: us / 1_000_000,
            tv_usec: us % 1_000_000,
        },
        type_,
        code,
        value,
    }
    .into()
}

fn key(us: i64, code: u16, value: i32) -> InputEvent {
    raw(us, EV_KEY, code, value)
}

fn syn(us: i64) -> InputEvent {
    raw(us, EV_SYN, 0, 0)
}

struct Rig {
    pump: Pump,
    shared: Arc<Shared>,
    rx: UnboundedReceiver<KeyEvent>,
}

fn rig() -> Rig {
    let (tx, rx) = unbounded_channel();
    let shared = Arc::new(Shared::default());
    Rig {
        pump: Pump::new(tx, Arc::clone(&shared)),
        shared,
        rx,
    }
}

fn device(id: DeviceId, batches: Vec<io::Result<Vec<InputEvent>>>) -> Open<Recorded> {
    let info = Keyboard {
        id,
        path: PathBuf::from(format!("/dev/input/event{id}")),
        name: "replay".into(),
        is_virtual: false,
        seat: "seat0".into(),
    };
    Open::new(info, Recorded(batches.into()))
}

fn received(rx: &mut UnboundedReceiver<KeyEvent>) -> Vec<(u16, bool, i64)> {
    let mut out = Vec::new();
    while let Ok(k) = rx.try_recv() {
        out.push((k.code, k.pressed, k.time_us));
    }
    out
}

fn lost(shared: &Shared) -> u64 {
    shared.lost.load(Ordering::SeqCst)
}

#[test]
fn presses_and_releases_keep_kernel_timestamps() {
    let mut r = rig();
    let mut dev = device(
        7,
        vec![Ok(vec![
            raw(1_000_000, EV_MSC, 4, 0x1e), // scancode: never forwarded
            key(1_000_000, KEY_A, 1),
            syn(1_000_000),
            key(1_085_250, KEY_A, 0),
            syn(1_085_250),
        ])],
    );
    r.pump.drain(&mut dev).unwrap();
    let got = r.rx.try_recv().unwrap();
    assert_eq!(
        got,
        KeyEvent {
            device: 7,
            code: KEY_A,
            pressed: true,
            time_us: 1_000_000
        }
    );
    assert_eq!(received(&mut r.rx), vec![(KEY_A, false, 1_085_250)]);
}

#[test]
fn auto_repeat_buttons_and_other_events_are_dropped() {
    let mut r = rig();
    let mut dev = device(
        1,
        vec![Ok(vec![
            key(10, KEY_A, 1),
            syn(10),
            key(500_010, KEY_A, 2),
            syn(500_010),
            key(533_010, KEY_A, 2),
            syn(533_010),
            key(540_000, BTN_LEFT, 1),
            raw(540_000, EV_REL, 0, 5),
            syn(540_000),
            key(600_000, KEY_A, 0),
            syn(600_000),
        ])],
    );
    r.pump.drain(&mut dev).unwrap();
    assert_eq!(
        received(&mut r.rx),
        vec![(KEY_A, true, 10), (KEY_A, false, 600_000)]
    );
}

#[test]
fn a_frame_goes_out_only_when_complete() {
    let mut r = rig();
    let mut dev = device(
        1,
        vec![
            Ok(vec![key(100, KEY_LEFTSHIFT, 1), key(100, KEY_A, 1)]),
            Ok(vec![syn(100)]),
        ],
    );
    r.pump.drain(&mut dev).unwrap();
    assert_eq!(received(&mut r.rx), vec![]);
    r.pump.drain(&mut dev).unwrap();
    assert_eq!(
        received(&mut r.rx),
        vec![(KEY_LEFTSHIFT, true, 100), (KEY_A, true, 100)]
    );
}

#[test]
fn syn_dropped_discards_until_the_next_report_and_counts_a_loss() {
    let mut r = rig();
    let mut dev = device(
        1,
        vec![Ok(vec![
            key(100, KEY_A, 1),
            syn(100),
            key(200, KEY_B, 1), // partial frame, lost with the drop
            raw(250, EV_SYN, SYN_DROPPED, 0),
            key(300, KEY_B, 0), // stale until the next SYN_REPORT
            syn(300),
            key(400, KEY_A, 0), // release of a press from before the drop: unpaired
            syn(400),
            key(500, KEY_B, 1),
            syn(500),
            key(600, KEY_B, 0),
            syn(600),
        ])],
    );
    assert_eq!(lost(&r.shared), 0);
    r.pump.drain(&mut dev).unwrap();
    assert_eq!(lost(&r.shared), 1);
    assert_eq!(
        received(&mut r.rx),
        vec![(KEY_A, true, 100), (KEY_B, true, 500), (KEY_B, false, 600)]
    );
}

#[test]
fn releases_without_their_press_are_not_forwarded() {
    // A key already down when the device was opened, and a doubled press.
    let mut r = rig();
    let mut dev = device(
        1,
        vec![Ok(vec![
            key(100, KEY_B, 0),
            syn(100),
            key(200, KEY_A, 1),
            syn(200),
            key(250, KEY_A, 1),
            syn(250),
            key(300, KEY_A, 0),
            syn(300),
        ])],
    );
    r.pump.drain(&mut dev).unwrap();
    assert_eq!(
        received(&mut r.rx),
        vec![(KEY_A, true, 200), (KEY_A, false, 300)]
    );
}

#[test]
fn a_vanished_device_is_an_error_and_a_loss_only_with_keys_down() {
    let mut r = rig();
    let enodev = || Err(io::Error::from_raw_os_error(libc::ENODEV));
    let mut quiet = device(
        1,
        vec![
            Ok(vec![key(1, KEY_A, 1), syn(1)]),
            Ok(vec![key(2, KEY_A, 0), syn(2)]),
            enodev(),
        ],
    );
    let mut holding = device(2, vec![Ok(vec![key(3, KEY_B, 1), syn(3)]), enodev()]);
    r.pump.add(&quiet);
    r.pump.add(&holding);
    assert_eq!(r.shared.keyboards().len(), 2);

    r.pump.drain(&mut quiet).unwrap();
    r.pump.drain(&mut quiet).unwrap();
    assert!(matches!(
        r.pump.drain(&mut quiet),
        Err(PumpError::DeviceFailed)
    ));
    r.pump.remove(&quiet);
    assert_eq!(lost(&r.shared), 0);

    r.pump.drain(&mut holding).unwrap();
    assert!(matches!(
        r.pump.drain(&mut holding),
        Err(PumpError::DeviceFailed)
    ));
    r.pump.remove(&holding);
    assert_eq!(lost(&r.shared), 1, "B was never released");
    assert!(r.shared.keyboards().is_empty());
    assert_eq!(
        received(&mut r.rx),
        vec![(KEY_A, true, 1), (KEY_A, false, 2), (KEY_B, true, 3)]
    );
}

#[test]
fn two_devices_keep_their_ids() {
    let mut r = rig();
    let mut one = device(1, vec![Ok(vec![key(10, KEY_A, 1), syn(10)])]);
    let mut two = device(2, vec![Ok(vec![key(20, KEY_A, 1), syn(20)])]);
    r.pump.drain(&mut one).unwrap();
    r.pump.drain(&mut two).unwrap();
    let a = r.rx.try_recv().unwrap();
    let b = r.rx.try_recv().unwrap();
    assert_eq!((a.device, a.time_us), (1, 10));
    assert_eq!((b.device, b.time_us), (2, 20));
}

#[test]
fn a_closed_receiver_stops_the_pump() {
    let mut r = rig();
    drop(r.rx);
    let mut dev = device(1, vec![Ok(vec![key(10, KEY_A, 1), syn(10)])]);
    assert!(matches!(
        r.pump.drain(&mut dev),
        Err(PumpError::ConsumerGone)
    ));
}

#[test]
fn a_replayed_typing_is_checked_against_its_text() {
    // "Ab": Shift down, a, Shift up, b. Pair presses with releases as a capture window does.
    let mut r = rig();
    let mut dev = device(
        1,
        vec![Ok(vec![
            key(0, KEY_LEFTSHIFT, 1),
            syn(0),
            key(80_000, KEY_A, 1),
            syn(80_000),
            key(150_000, KEY_LEFTSHIFT, 0),
            syn(150_000),
            key(160_000, KEY_A, 0),
            syn(160_000),
            key(240_000, KEY_B, 1),
            syn(240_000),
            key(300_000, KEY_B, 0),
            syn(300_000),
        ])],
    );
    r.pump.drain(&mut dev).unwrap();
    let events = received(&mut r.rx);
    let mut strokes = Vec::new();
    for (i, &(code, pressed, down)) in events.iter().enumerate() {
        if !pressed {
            continue;
        }
        let up = events[i..]
            .iter()
            .find(|&&(c, p, _)| c == code && !p)
            .map(|&(_, _, t)| t)
            .unwrap();
        strokes.push(behavior_core::Keystroke {
            key: behavior_core::Key(code),
            down: down as f64 / 1000.0,
            up: up as f64 / 1000.0,
        });
    }
    let us = behavior_core::Layout::Us;
    assert_eq!(behavior_core::check_typed(&strokes, "Ab", us), Ok(()));
    assert!(behavior_core::check_typed(&strokes, "ab", us).is_err());
}

#[test]
fn spawn_on_a_directory_without_keyboards() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("event0"), b"not a device").unwrap();
    let (tx, _rx) = unbounded_channel();
    let cfg = InputConfig {
        allow_virtual: true,
        dir: dir.path().to_path_buf(),
    };
    let handle = spawn(cfg, tx).unwrap();
    std::fs::write(dir.path().join("event1"), b"not a device either").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(handle.keyboards(), vec![]);
    assert_eq!(handle.stopped(), None);
    assert_eq!(handle.lost_events(), 0);
    drop(handle); // joins the thread: a hang here fails the test by timeout
}

#[test]
fn spawn_waits_for_a_missing_directory_but_not_a_missing_parent() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("input");
    let (tx, _rx) = unbounded_channel();
    let cfg = InputConfig {
        allow_virtual: false,
        dir: dir.clone(),
    };
    let handle = spawn(cfg.clone(), tx.clone()).unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(handle.stopped(), None);
    drop(handle);

    let cfg = InputConfig {
        allow_virtual: false,
        dir: root.path().join("no/such/input"),
    };
    let err = spawn(cfg, tx).unwrap_err();
    assert!(err.to_string().contains("no/such"), "{err}");
}

#[test]
fn sync_is_answered_once_the_reader_has_drained_every_device() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, _rx) = unbounded_channel();
    let cfg = InputConfig {
        allow_virtual: false,
        dir: dir.path().to_path_buf(),
    };
    let handle = spawn(cfg, tx).unwrap();
    let timeout = std::time::Duration::from_secs(5);
    assert_eq!(handle.sync(timeout), Some(0));
    // Many callers at once (more than the socket buffers bytes for): every one is answered.
    std::thread::scope(|s| {
        let answers: Vec<_> = (0..16)
            .map(|_| s.spawn(|| (0..50).all(|_| handle.sync(timeout) == Some(0))))
            .collect();
        for a in answers {
            assert!(a.join().unwrap());
        }
    });
}

#[test]
fn a_dropped_receiver_without_devices_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = unbounded_channel();
    let cfg = InputConfig {
        allow_virtual: false,
        dir: dir.path().to_path_buf(),
    };
    let handle = spawn(cfg, tx).unwrap();
    drop(rx);
    // Without devices nothing is sent, so the reader keeps running until told to stop.
    assert_eq!(handle.stopped(), None);
    drop(handle);
}

#[test]
fn replay_runs_recorded_events_through_the_live_path() {
    let (tx, mut rx) = unbounded_channel();
    let events = [
        key(100, KEY_A, 1),
        syn(100),
        raw(150, EV_SYN, SYN_DROPPED, 0),
        syn(160),
        key(200, KEY_B, 1),
        syn(200),
    ];
    assert_eq!(replay(4, &events, &tx).unwrap(), 1);
    let got: Vec<(DeviceId, u16)> = std::iter::from_fn(|| rx.try_recv().ok())
        .map(|k| (k.device, k.code))
        .collect();
    assert_eq!(got, vec![(4, KEY_A), (4, KEY_B)]);
    drop(rx);
    let err = replay(4, &events, &tx).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
}

/// The fixture recorded from a real kernel: (time, type, code, value) per raw event.
fn recorded_hello_world() -> Vec<InputEvent> {
    include_str!("testdata/hello_world.events")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<i64> = l.split(' ').map(|x| x.parse().unwrap()).collect();
            raw(
                f[0] * 1_000_000 + f[1],
                f[2] as u16,
                f[3] as u16,
                f[4] as i32,
            )
        })
        .collect()
}

#[test]
fn a_recording_from_the_kernel_replays_to_its_text_with_its_times() {
    let events = recorded_hello_world();
    let (tx, mut rx) = unbounded_channel();
    assert_eq!(replay(1, &events, &tx).unwrap(), 0);
    let got: Vec<KeyEvent> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    let keys: Vec<&InputEvent> = events
        .iter()
        .filter(|e| e.event_type() == evdev::EventType::KEY)
        .collect();
    assert_eq!(got.len(), keys.len());
    for (k, e) in got.iter().zip(keys) {
        let t = e.as_ref().time;
        assert_eq!(k.time_us, t.tv_sec * 1_000_000 + t.tv_usec);
        assert_eq!((k.code, k.pressed), (e.code(), e.value() == 1));
    }
    let strokes: Vec<behavior_core::Keystroke> = got
        .iter()
        .enumerate()
        .filter(|(_, k)| k.pressed)
        .map(|(i, k)| {
            let up = got[i..]
                .iter()
                .find(|u| !u.pressed && u.code == k.code)
                .unwrap();
            behavior_core::Keystroke {
                key: behavior_core::Key(k.code),
                down: k.time_us as f64 / 1000.0,
                up: up.time_us as f64 / 1000.0,
            }
        })
        .collect();
    let us = behavior_core::Layout::Us;
    assert_eq!(
        behavior_core::check_typed(&strokes, "Hello world", us),
        Ok(())
    );
    assert!(matches!(
        behavior_core::check_typed(&strokes, "hello world", us),
        Err(behavior_core::LayoutError::Mismatch { .. })
    ));
}

#[test]
fn a_drop_inside_a_recording_loses_the_frame_and_keeps_pairs() {
    let mut events = recorded_hello_world();
    // The kernel's buffer overflowed after the 10th event: the events of the frame being
    // read are gone, SYN_DROPPED stands in their place.
    events.insert(10, raw(0, EV_SYN, SYN_DROPPED, 0));
    let (tx, mut rx) = unbounded_channel();
    assert_eq!(replay(1, &events, &tx).unwrap(), 1);
    let got: Vec<KeyEvent> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(got.len() < 26);
    let mut down = Vec::new();
    for k in &got {
        if k.pressed {
            assert!(!down.contains(&k.code));
            down.push(k.code);
        } else {
            let i = down
                .iter()
                .position(|&c| c == k.code)
                .expect("release after its press");
            down.remove(i);
        }
    }
}

#[test]
fn a_frame_that_never_ends_is_cut_off_as_a_loss() {
    let mut events = Vec::new();
    for i in 0..1000 {
        events.push(key(i, KEY_A, (i % 2) as i32 ^ 1));
    }
    events.push(syn(1000));
    events.push(key(2000, KEY_B, 1));
    events.push(syn(2000));
    let (tx, mut rx) = unbounded_channel();
    assert_eq!(replay(1, &events, &tx).unwrap(), 1);
    assert_eq!(received(&mut rx), vec![(KEY_B, true, 2000)]);
}
