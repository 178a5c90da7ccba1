//! Enrollments waiting for the rest of the PAM stack.
//!
//! A typing pattern or PIN set up during a login proves nothing about who typed it, so it is
//! not stored when it is made: `Finish` parks it here, still bound to the caller's unique bus
//! name, and the PAM module commits it from a hook libpam runs only after the whole stack
//! authenticated the user (`pam_sm_setcred` and friends), or abandons it. Whatever is not
//! committed within [`PENDING_SECS`] is dropped; so is everything of a caller that left the
//! bus, since a unique name is never given out again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use behavior_core::decision::Factors;
use behavior_ipc::auth::PENDING_SECS;
use behavior_ipc::Error;

/// Most pending enrollments at once; a login enrolls rarely, so this is generous.
const MAX_PENDING: usize = 64;
/// Most for one caller (one bus connection).
const MAX_PENDING_PER_CALLER: usize = 4;

/// What one finished login set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Enrollment {
    pub user: String,
    pub uid: u32,
    pub service: String,
    /// Digest of the phrase the template was enrolled for.
    pub phrase: String,
    /// The template's JSON, when the typing pattern was enrolled.
    pub template: Option<String>,
    /// `enrolled_at` of the template row the login began with (`None`: no row). The new
    /// template replaces that very row or none: a pattern enrolled meanwhile is not lost.
    pub seen_template: Option<i64>,
    /// The PIN's PHC string, when a PIN was set up (only ever where none existed).
    pub pin: Option<String>,
}

impl Enrollment {
    pub fn factors(&self) -> Factors {
        Factors {
            behavior: self.template.is_some(),
            pin: self.pin.is_some(),
        }
    }
}

struct Entry {
    owner: String,
    deadline: Instant,
    enrollment: Enrollment,
}

#[derive(Default)]
pub(crate) struct Pendings {
    map: Mutex<HashMap<String, Entry>>,
}

impl Pendings {
    /// Parks `enrollment` under `handle` for `owner`. Returns the entries that timed out or
    /// that it replaces (for their events); `PolicyDenied` while another caller's enrollment
    /// of the same account waits (the first keeps its place: a stranger's login cannot
    /// cancel the user's own), `Unavailable` when the table is full.
    pub fn park(
        &self,
        handle: &str,
        owner: &str,
        enrollment: Enrollment,
        now: Instant,
    ) -> Result<Vec<Enrollment>, Error> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // One pending enrollment per account, so enrollments of many logins at once cannot
        // fill the table: the same caller's newer one replaces its older one.
        let user = enrollment.user.clone();
        let taken = |e: &Entry| e.deadline > now && e.enrollment.user == user;
        if map.values().any(|e| taken(e) && e.owner != owner) {
            return Err(Error::PolicyDenied(format!(
                "another login's enrollment of {user} waits to be committed"
            )));
        }
        let expired = take_where(&mut map, |e| e.deadline <= now || taken(e));
        let of_owner = map.values().filter(|e| e.owner == owner).count();
        if map.len() >= MAX_PENDING || of_owner >= MAX_PENDING_PER_CALLER {
            return Err(Error::Unavailable(
                "too many enrollments are waiting to be committed".into(),
            ));
        }
        map.insert(
            handle.to_string(),
            Entry {
                owner: owner.to_string(),
                deadline: now + Duration::from_secs(u64::from(PENDING_SECS)),
                enrollment,
            },
        );
        Ok(expired)
    }

    /// Takes the enrollment `handle` names if `owner` parked it and it has not timed out.
    /// A handle of another caller gets the same answer as an unknown one.
    pub fn take(&self, handle: &str, owner: &str, now: Instant) -> Result<Enrollment, Error> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let stale = || Error::NoSuchHandle("no enrollment is pending under this handle".into());
        match map.get(handle) {
            Some(e) if e.owner == owner && e.deadline > now => {}
            _ => return Err(stale()),
        }
        map.remove(handle).map(|e| e.enrollment).ok_or_else(stale)
    }

    /// Drops what timed out and what `gone` (a caller that left the bus) parked.
    pub fn sweep(&self, gone: Option<&str>, now: Instant) -> Vec<Enrollment> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        take_where(&mut map, |e| {
            e.deadline <= now || Some(e.owner.as_str()) == gone
        })
    }
}

fn take_where(map: &mut HashMap<String, Entry>, f: impl Fn(&Entry) -> bool) -> Vec<Enrollment> {
    let gone: Vec<String> = map
        .iter()
        .filter(|(_, e)| f(e))
        .map(|(h, _)| h.clone())
        .collect();
    gone.into_iter()
        .filter_map(|h| map.remove(&h).map(|e| e.enrollment))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enrollment(user: &str) -> Enrollment {
        Enrollment {
            user: user.into(),
            uid: 1000,
            service: "login".into(),
            phrase: "p1".into(),
            template: Some("{}".into()),
            seen_template: None,
            pin: None,
        }
    }

    #[test]
    fn only_the_caller_that_parked_it_takes_it_once_in_time() {
        let p = Pendings::default();
        let t0 = Instant::now();
        p.park("h1", ":1.5", enrollment("ann"), t0).unwrap();
        assert!(p.take("h1", ":1.6", t0).is_err(), "another caller");
        assert_eq!(p.take("h1", ":1.5", t0).unwrap().user, "ann");
        assert!(p.take("h1", ":1.5", t0).is_err(), "taken once");

        p.park("h2", ":1.5", enrollment("bob"), t0).unwrap();
        let late = t0 + Duration::from_secs(u64::from(PENDING_SECS) + 1);
        assert!(p.take("h2", ":1.5", late).is_err(), "timed out");
        assert_eq!(p.sweep(None, late).len(), 1);
    }

    #[test]
    fn one_account_has_one_pending_enrollment() {
        let p = Pendings::default();
        let t0 = Instant::now();
        p.park("h1", ":1.5", enrollment("ann"), t0).unwrap();
        // Another caller's cannot push it out...
        assert!(p.park("h2", ":1.6", enrollment("ann"), t0).is_err());
        // ...the same caller's newer one replaces it.
        let replaced = p.park("h3", ":1.5", enrollment("ann"), t0).unwrap();
        assert_eq!(replaced.len(), 1);
        assert!(p.take("h1", ":1.5", t0).is_err());
        assert!(p.take("h3", ":1.5", t0).is_ok());
    }

    #[test]
    fn a_caller_that_leaves_loses_its_enrollments_and_tables_are_bounded() {
        let p = Pendings::default();
        let t0 = Instant::now();
        for k in 0..MAX_PENDING_PER_CALLER {
            p.park(&format!("h{k}"), ":1.5", enrollment(&format!("u{k}")), t0)
                .unwrap();
        }
        assert!(p.park("hx", ":1.5", enrollment("ann"), t0).is_err());
        // (ann: a fifth account of the same caller)
        assert!(p.park("hy", ":1.6", enrollment("bob"), t0).is_ok());
        let gone = p.sweep(Some(":1.5"), t0);
        assert_eq!(gone.len(), MAX_PENDING_PER_CALLER);
        assert!(p.take("hy", ":1.6", t0).is_ok());
    }
}
