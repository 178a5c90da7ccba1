//! `org.behaviord.Test1` (only with `--test-input`): recorded key timings become key events
//! of a pseudo device, sent into the channel evdev feeds; everything after it is the real
//! capture path.

use std::sync::Arc;
use std::time::Duration;

use behavior_core::Key;
use behavior_ipc::test::MAX_INJECT_KEYS;
use behavior_ipc::Error;
use tokio::sync::mpsc;
use zbus::message::Header;

use super::State;
use crate::keyevent::{DeviceId, KeyEvent};

/// The pseudo device's id (real devices count up from 0).
pub const TEST_DEVICE: DeviceId = u32::MAX;

/// A key may not be held or typed later than this after the first one (ms).
const MAX_SPAN_MS: f64 = 600_000.0;

pub struct TestObject {
    pub state: Arc<State>,
    pub keys: mpsc::UnboundedSender<KeyEvent>,
}

/// Turns (name, down ms, up ms) into press/release events in time order, starting at
/// `origin_us`.
pub fn to_events(keys: &[(String, f64, f64)], origin_us: i64) -> Result<Vec<KeyEvent>, Error> {
    if keys.len() > MAX_INJECT_KEYS {
        return Err(Error::InvalidArgument(format!(
            "at most {MAX_INJECT_KEYS} keys per call"
        )));
    }
    let first = keys.iter().map(|k| k.1).fold(f64::INFINITY, f64::min);
    let mut events = Vec::with_capacity(keys.len() * 2);
    for (i, (name, down, up)) in keys.iter().enumerate() {
        let key = Key::from_name(name)
            .filter(|k| k.is_known())
            .ok_or_else(|| Error::InvalidArgument(format!("key {i}: unknown key name")))?;
        let ok = down.is_finite() && up.is_finite() && up >= down && up - first <= MAX_SPAN_MS;
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "key {i}: times must be finite, up >= down, within {MAX_SPAN_MS} ms"
            )));
        }
        let at = |ms: f64| origin_us + ((ms - first) * 1000.0).round() as i64;
        events.push(KeyEvent {
            device: TEST_DEVICE,
            code: key.0,
            pressed: true,
            time_us: at(*down),
        });
        events.push(KeyEvent {
            device: TEST_DEVICE,
            code: key.0,
            pressed: false,
            time_us: at(*up),
        });
    }
    // Stable: a press and a release at the same instant keep press-before-release order.
    events.sort_by_key(|e| e.time_us);
    Ok(events)
}

#[zbus::interface(name = "org.behaviord.Test1")]
impl TestObject {
    async fn inject_keys(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        keys: Vec<(String, f64, f64)>,
    ) -> Result<u32, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        let events = to_events(&keys, super::now_ms() * 1000)?;
        let n = events.len() as u64;
        let target = st.captures.count_sent(n);
        for ev in events {
            self.keys
                .send(ev)
                .map_err(|_| Error::Unavailable("the key capture loop has stopped".into()))?;
        }
        let captures = st.captures.clone();
        let done = st
            .rt
            .spawn(async move {
                captures
                    .wait_processed(target, Duration::from_secs(5))
                    .await
            })
            .await
            .unwrap_or(false);
        if !done {
            return Err(Error::Unavailable(
                "the injected keys were not processed in time".into(),
            ));
        }
        Ok(n as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_in_time_order_from_the_origin() {
        let keys = vec![
            ("a".to_string(), 100.0, 180.0),
            ("b".to_string(), 150.0, 200.0),
        ];
        let ev = to_events(&keys, 1_000_000).unwrap();
        let got: Vec<_> = ev.iter().map(|e| (e.code, e.pressed, e.time_us)).collect();
        assert_eq!(
            got,
            vec![
                (30, true, 1_000_000),
                (48, true, 1_050_000),
                (30, false, 1_080_000),
                (48, false, 1_100_000),
            ]
        );
    }

    #[test]
    fn refuses_bad_keys() {
        assert!(to_events(&[("zz".into(), 0.0, 1.0)], 0).is_err());
        assert!(to_events(&[("js97".into(), 0.0, 1.0)], 0).is_err());
        assert!(to_events(&[("a".into(), 5.0, 1.0)], 0).is_err());
        assert!(to_events(&[("a".into(), f64::NAN, 1.0)], 0).is_err());
        assert!(to_events(&[("a".into(), 0.0, 1e9)], 0).is_err());
        let many = vec![("a".to_string(), 0.0, 1.0); MAX_INJECT_KEYS + 1];
        assert!(to_events(&many, 0).is_err());
    }
}
