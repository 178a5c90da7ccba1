//! The session monitor (`crate::session`) wired into the daemon: its profiles live in the
//! database (`profiles` table), its step-up and logout reports become audit events, and it
//! watches the users the policy says (enrolled users, when `session.monitor` is on).

use std::sync::Arc;

use behavior_core::free::Profile;
use tokio::sync::mpsc;

use crate::audit::Event;
use crate::keyevent::KeyEvent;
use crate::service::{now_ms, State};
use crate::session::{
    self, MonitorHandle, MonitorSettings, ProfileStore, ReportKind, SessionReport,
};

const SOURCE: &str = "session";

/// The monitor's profiles, in the daemon's database.
struct DbProfiles(Arc<State>);

impl ProfileStore for DbProfiles {
    fn load(&self, user: &str) -> Result<Option<Profile>, session::StoreError> {
        match self.0.store.profile(user)? {
            Some(json) => {
                Ok(Some(serde_json::from_str(&json).map_err(|e| {
                    format!("database row profiles[{user}] is corrupt: {e}")
                })?))
            }
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

/// Starts monitoring with the current settings; `keys` receives every key event.
pub async fn start(
    state: Arc<State>,
    conn: zbus::Connection,
    keys: mpsc::UnboundedReceiver<KeyEvent>,
) -> Result<MonitorHandle, String> {
    let config = state.config();
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
    session::spawn(
        conn,
        keys,
        settings,
        Arc::new(DbProfiles(state.clone())),
        reports_tx,
        policy,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Records one report: step-up and logout as audit events, the rest to syslog.
fn report(state: &State, r: &SessionReport) {
    let outcome = |done: &str| match &r.error {
        None => done.to_string(),
        Some(_) => format!("{done}-failed"),
    };
    let event = match r.kind {
        ReportKind::StepUp { .. } => Some((Event::SessionStepUp, outcome("locked"))),
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
