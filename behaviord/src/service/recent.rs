//! Timings of recent phrase typings per user, kept in memory only, so that a recording of
//! one of them played back is refused as a replay even when it was never stored in the
//! template (an accepted typing that was not adapted, a rejected one). Only the phrase's own
//! timings, as the template keeps them; gone when the daemon stops.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Typings kept per user.
const PER_USER: usize = 16;
/// Users kept (the table is cleared when full: the template's own typings still count).
const USERS: usize = 1024;

#[derive(Default)]
pub(crate) struct Recent {
    map: Mutex<HashMap<String, VecDeque<Vec<f64>>>>,
}

impl Recent {
    /// The recent typings of `user`, oldest first.
    pub fn of(&self, user: &str) -> Vec<Vec<f64>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(user)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn remember(&self, user: &str, timings: Vec<f64>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= USERS && !map.contains_key(user) {
            map.clear();
        }
        let q = map.entry(user.to_string()).or_default();
        if q.len() >= PER_USER {
            q.pop_front();
        }
        q.push_back(timings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_typings_of_each_user() {
        let r = Recent::default();
        for k in 0..PER_USER + 3 {
            r.remember("ann", vec![k as f64]);
        }
        let ann = r.of("ann");
        assert_eq!(ann.len(), PER_USER);
        assert_eq!(ann[0], vec![3.0]);
        assert!(r.of("bob").is_empty());
    }
}
