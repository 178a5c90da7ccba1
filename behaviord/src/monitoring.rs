//! The session monitor (`crate::session`) wired into the daemon: its profiles live in the
//! database (`profiles` table), its step-up and logout reports become audit events, and it
//! watches the users the policy says (enrolled users, when `session.monitor` is on).

use std::sync::Arc;

use behavior_core::free::{self, Profile};
use tokio::sync::mpsc;

use crate::audit::Event;
use crate::service::{now_ms, State};
use crate::session::{self, MonitorSettings, ProfileStore, ReportKind, SessionReport};

const SOURCE: &str = "session";

/// The monitor's profiles, in the daemon's database.
struct DbProfiles(Arc<State>);

impl ProfileStore for DbProfiles {
    fn load(&self, user: &str) -> Result<Option<Profile>, session::StoreError> {
        match self.0.store.profile(user)? {
            // A profile of an earlier layout is learnt again (saving replaces the row); a
            // current-layout row that does not read is damage, reported as such.
            Some(json) => match free::stored_layout(&json) {
                Some(layout) if layout != free::PROFILE_LAYOUT => Ok(None),
                _ => Ok(Some(serde_json::from_str(&json).map_err(|e| {
                    format!("database row profiles[{user}] is corrupt: {e}")
                })?)),
            },
            None => Ok(None),
        }
    }

    fn save(&self, user: &str, profile: &Profile) -> Result<(), session::StoreError> {
        let json = serde_json::to_string(profile)?;
        self.0
            .store
            .change(|tx| tx.put_profile(user, &json, now_ms()))?;
        Ok(())
    }
}

/// (Re)starts monitoring with the current settings, or stops it when `session.monitor` is
/// off: the old monitor (if any) is dropped and the key events go to the new one. Returns a
/// sentence for the log.
pub async fn restart(state: Arc<State>) -> Result<String, String> {
    state.set_monitor(None);
    state.captures.set_forward(None);
    let config = state.config();
    if !config.session.monitor {
        return Ok("session monitoring is off".into());
    }
    let conn = state
        .connection()
        .ok_or_else(|| "not connected to the bus yet".to_string())?;
    let (keys_tx, keys) = mpsc::unbounded_channel();
    let settings = MonitorSettings::new(config.monitor_config());
    let (reports_tx, mut reports) = mpsc::unbounded_channel::<SessionReport>();
    let reporter = state.clone();
    tokio::spawn(async move {
        while let Some(r) = reports.recv().await {
            report(&reporter, &r);
        }
    });
    let st = state.clone();
    // Consulted when a session appears: enrolled users of a policy with monitoring on.
    let policy: session::MonitorPolicy = Arc::new(move |user: &str| {
        st.config().session.monitor && st.store.template(user).ok().flatten().is_some()
    });
    let monitor = session::spawn(
        conn,
        keys,
        settings,
        Arc::new(DbProfiles(state.clone())),
        reports_tx,
        policy,
    )
    .await
    .map_err(|e| format!("session monitoring is off: {e}"))?;
    let note = format!("monitoring {} session(s)", monitor.status().len());
    state.set_monitor(Some(monitor));
    state.captures.set_forward(Some(keys_tx));
    Ok(note)
}

/// Settings the monitor takes at its start: changing one restarts it.
pub fn is_monitor_setting(key: &str) -> bool {
    key.starts_with("session.") || key == "thresholds.step_up" || key == "thresholds.logout"
}

/// Records one report: step-up and logout as audit events, the rest to syslog.
fn report(state: &State, r: &SessionReport) {
    let outcome = |done: &str| match &r.error {
        None => done.to_string(),
        Some(_) => format!("{done}-failed"),
    };
    let event = match r.kind {
        ReportKind::StepUp { .. } => Some((Event::SessionStepUp, outcome("locked"))),
        ReportKind::NotLocked { .. } => Some((Event::SessionStepUp, outcome("not_locked"))),
        ReportKind::Terminated { .. } => Some((Event::SessionTerminated, outcome("terminated"))),
        ReportKind::ProfileLearned => {
            state
                .syslog
                .info(&format!("session profile learnt for user {}", r.user));
            None
        }
        ReportKind::NotMonitored => {
            state.syslog.warning(&format!(
                "session {} of user {} is not monitored: {}",
                r.session,
                r.user,
                r.error
                    .as_deref()
                    .unwrap_or("its profile could not be read")
            ));
            None
        }
    };
    if let Some((event, outcome)) = event {
        if let Some(e) = &r.error {
            state
                .syslog
                .warning(&format!("session {} of user {}: {e}", r.session, r.user));
        }
        // A failure is in syslog already (State::storage); nothing else to do here.
        let _ = state.record_event(event, &r.user, &outcome, SOURCE, "");
    }
}
