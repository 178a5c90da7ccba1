//! Per-uid token buckets for the calls unprivileged callers can make (`Auth1`, `User1`, and
//! the refusals of `Admin1`/`Test1`). Pure: time is passed in. Root's callers (login, gdm,
//! sudo) are never limited, so a flood from other uids cannot slow them down by using up
//! their share.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Calls one uid may make in a burst, and how many it regains per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub burst: f64,
    pub per_sec: f64,
    /// Most uids tracked at once; see [`RateLimiter::take`].
    pub max_uids: usize,
}

/// A screen unlock takes about 5 calls and `behaviorctl me` one: a user never meets these,
/// a loop of calls meets them within a second.
pub const DEFAULT: Limits = Limits {
    burst: 20.0,
    per_sec: 10.0,
    max_uids: 4096,
};

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    buckets: HashMap<u32, Bucket>,
}

impl RateLimiter {
    pub fn new(limits: Limits) -> RateLimiter {
        RateLimiter {
            limits,
            buckets: HashMap::new(),
        }
    }

    /// Takes one call of `uid` at `now`; `Err` is how long until it may call again.
    /// Uid 0 always passes. When `max_uids` are tracked, buckets that have refilled (and
    /// so remember nothing) are forgotten; if none has, a new uid waits until one has.
    pub fn take(&mut self, uid: u32, now: Instant) -> Result<(), Duration> {
        if uid == 0 {
            return Ok(());
        }
        let Limits {
            burst,
            per_sec,
            max_uids,
        } = self.limits;
        if !self.buckets.contains_key(&uid) && self.buckets.len() >= max_uids {
            self.buckets
                .retain(|_, b| refilled(b, now, per_sec, burst) < burst);
            if self.buckets.len() >= max_uids {
                return Err(Duration::from_secs_f64(1.0 / per_sec));
            }
        }
        let bucket = self.buckets.entry(uid).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = refilled(bucket, now, per_sec, burst);
        bucket.at = now.max(bucket.at);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_sec))
    }
}

/// The bucket's tokens at `now` (a clock that went back adds nothing).
fn refilled(b: &Bucket, now: Instant, per_sec: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    (b.tokens + elapsed * per_sec).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits {
        burst: 3.0,
        per_sec: 2.0,
        max_uids: 2,
    };

    /// Takes `uid`'s whole burst at `t`; the next call is refused.
    fn empty(r: &mut RateLimiter, uid: u32, t: Instant) {
        for _ in 0..SMALL.burst as usize {
            r.take(uid, t).unwrap();
        }
        assert!(r.take(uid, t).is_err());
    }

    #[test]
    fn a_burst_then_the_rate() {
        let mut r = RateLimiter::new(SMALL);
        let t0 = Instant::now();
        empty(&mut r, 1000, t0);
        assert_eq!(r.take(1000, t0).unwrap_err(), Duration::from_millis(500));
        // Half a second later one call, not two.
        let t1 = t0 + Duration::from_millis(500);
        r.take(1000, t1).unwrap();
        assert!(r.take(1000, t1).is_err());
        // Idle for long: back to the burst, not beyond.
        empty(&mut r, 1000, t1 + Duration::from_secs(60));
    }

    #[test]
    fn uids_are_apart_and_root_is_never_limited() {
        let mut r = RateLimiter::new(SMALL);
        let t0 = Instant::now();
        empty(&mut r, 1000, t0);
        r.take(1001, t0).unwrap();
        for _ in 0..10_000 {
            r.take(0, t0).unwrap();
        }
    }

    #[test]
    fn the_table_is_bounded_without_forgetting_busy_uids() {
        let mut r = RateLimiter::new(SMALL);
        let t0 = Instant::now();
        empty(&mut r, 1, t0);
        empty(&mut r, 2, t0);
        // Both buckets are empty: a third uid waits rather than wiping them.
        assert!(r.take(3, t0).is_err());
        assert!(r.take(1, t0).is_err(), "uid 1 still limited");
        // Once they refilled they are forgotten and the third uid gets in.
        let later = t0 + Duration::from_secs(10);
        r.take(3, later).unwrap();
        assert!(r.buckets.len() <= SMALL.max_uids);
    }

    #[test]
    fn a_clock_going_back_gives_nothing() {
        let mut r = RateLimiter::new(SMALL);
        let t1 = Instant::now() + Duration::from_secs(5);
        empty(&mut r, 7, t1);
        assert!(r.take(7, t1 - Duration::from_secs(5)).is_err());
    }
}
