//! `org.behaviord.Admin1`: root's view and changes (`behaviorctl`).

use std::sync::Arc;

use behavior_ipc::admin::{
    Event as IpcEvent, EventFilter, MonitoredSession, Policy, Rule, Setting, Status, UserInfo,
    MONITORING_OFF_BY_SETTING, MONITORING_ON,
};
use behavior_ipc::Error;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

use super::auth::template_expiry;
use super::{account, check_len, check_user_name, State};
use crate::audit::Event;
use crate::config::{self, Config};
use crate::matching;
use crate::pin;
use crate::store::{EventQuery, UserRow};

const SOURCE: &str = "behaviorctl";
/// Most events one `Events` call returns.
const MAX_EVENTS: u32 = 1000;

fn phase_name(phase: &behavior_core::monitor::Phase) -> String {
    use behavior_core::monitor::Phase;
    match phase {
        Phase::Learning { keystrokes, needed } => format!("learning {keystrokes}/{needed}"),
        Phase::Monitoring => "monitoring".into(),
        Phase::Grace { .. } => "grace".into(),
        Phase::Paused => "paused".into(),
        Phase::Locked => "locked".into(),
        Phase::Terminated => "terminated".into(),
    }
}

pub struct AdminObject {
    pub state: Arc<State>,
}

/// A user's public record (no template content, no PIN hash).
pub(crate) fn user_info(
    state: &State,
    name: &str,
    uid: u32,
    row: Option<&UserRow>,
    config: &Config,
) -> Result<UserInfo, Error> {
    let template = state.store.template(name).map_err(|e| state.storage(e))?;
    let typings = match &template {
        Some(t) => matching::from_json(&t.json)
            .map(|t| t.typings() as u32)
            .map_err(|reason| {
                state.storage(crate::store::StoreError::Corrupt {
                    table: "templates",
                    key: name.to_string(),
                    reason,
                })
            })?,
        None => 0,
    };
    let enrolled_at = template.as_ref().map_or(0, |t| t.enrolled_at);
    let phrase = matching::phrase_digest(&config.phrase);
    Ok(UserInfo {
        phrase_changed: template
            .as_ref()
            .is_some_and(|t| t.for_other_phrase(&phrase)),
        name: name.to_string(),
        uid,
        enrolled: template.is_some(),
        enrolled_at_ms: enrolled_at,
        template_expires_ms: if template.is_some() {
            template_expiry(enrolled_at, config)
        } else {
            0
        },
        template_typings: typings,
        pin_set: row.and_then(|r| r.pin_set_at).is_some(),
        pin_set_at_ms: row.and_then(|r| r.pin_set_at).unwrap_or(0),
        failures: row.map_or(0, |r| r.failures.clamp(0, i64::from(u32::MAX)) as u32),
        locked_until_ms: row.map_or(0, |r| r.locked_until),
    })
}

/// logind's name on the system bus; the session monitor needs it.
const LOGIND: &str = "org.freedesktop.login1";

impl AdminObject {
    /// `Status.monitoring`: `on`, or `off: ` and why.
    async fn monitoring(&self) -> String {
        let st = &self.state;
        if !st.config().session.monitor {
            return MONITORING_OFF_BY_SETTING.into();
        }
        if st.monitor_running() {
            return MONITORING_ON.into();
        }
        let logind = match st.connection() {
            Some(conn) => match zbus::fdo::DBusProxy::new(&conn).await {
                Ok(dbus) => match zbus::names::BusName::try_from(LOGIND) {
                    Ok(name) => dbus.name_has_owner(name).await.ok(),
                    Err(_) => None,
                },
                Err(_) => None,
            },
            None => None,
        };
        match logind {
            Some(false) => {
                "off: no systemd-logind (org.freedesktop.login1) on the system bus".into()
            }
            _ => "off: the session monitor could not start (see the daemon's log)".into(),
        }
    }

    /// `Set` and `SetForced`: checked exactly as the file is, and refused where a new
    /// phrase would make enrolled users enroll again unless `force`.
    async fn apply_setting(
        &self,
        hdr: &Header<'_>,
        key: &str,
        value: &str,
        force: bool,
    ) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(hdr).await?;
        check_len("key", key)?;
        check_len("value", value)?;
        let mut overrides = st.store.settings().map_err(|e| st.storage(e))?;
        overrides.retain(|(k, _)| k != key);
        overrides.push((key.to_string(), value.to_string()));
        // Checked exactly as the file is, before anything is stored.
        let (_, refused) = config::effective(st.file_text(), &overrides)
            .map_err(|e| Error::InvalidArgument(e.reason))?;
        if let Some((_, reason)) = refused.iter().find(|(k, _)| k == key) {
            return Err(Error::InvalidArgument(reason.clone()));
        }
        if key == "phrase" && !force {
            self.phrase_change_allowed(value, "repeat with --force to do so")?;
        }
        st.commit(|tx, audit| {
            tx.set_setting(key, value, audit.now)?;
            audit.log(
                tx,
                Event::SettingsChanged,
                "root",
                &format!("set {key}"),
                SOURCE,
                "",
            )
        })?;
        st.reload_overrides()?;
        self.settings_applied(key).await
    }

    /// A change of the phrase to `new` is refused while users are enrolled for the current
    /// one (each would have to enroll again); `how` says how to do it anyway.
    fn phrase_change_allowed(&self, new: &str, how: &str) -> Result<(), Error> {
        let st = &self.state;
        let current = st.config().phrase.clone();
        if new == current {
            return Ok(());
        }
        let enrolled = st
            .store
            .templates_for_phrase(&matching::phrase_digest(&current))
            .map_err(|e| st.storage(e))?;
        if enrolled == 0 {
            return Ok(());
        }
        Err(Error::PolicyDenied(format!(
            "{enrolled} user(s) enrolled their typing pattern for the current phrase; \
             with a new phrase each of them must enroll again: {how}"
        )))
    }

    /// Settings the session monitor takes at its start restart it.
    async fn settings_applied(&self, key: &str) -> Result<(), Error> {
        if !crate::monitoring::is_monitor_setting(key) {
            return Ok(());
        }
        let st = self.state.clone();
        let restarted = self
            .state
            .rt
            .spawn(crate::monitoring::restart(st))
            .await
            .map_err(|e| Error::Unavailable(format!("internal task failed: {e}")))?;
        match restarted {
            Ok(note) => self.state.syslog.info(&format!("settings changed: {note}")),
            Err(warn) => self.state.syslog.warning(&warn),
        }
        Ok(())
    }
}

#[zbus::interface(name = "org.behaviord.Admin1")]
impl AdminObject {
    async fn status(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Status, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        let (enrolled, pins, events) = st.store.counts().map_err(|e| st.storage(e))?;
        Ok(Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at_ms: st.started_at_ms,
            config_path: st.config_path.display().to_string(),
            database: st.store.path().display().to_string(),
            users_enrolled: enrolled as u32,
            users_with_pin: pins as u32,
            events: events as u64,
            active_handles: st.active_sessions() as u32,
            test_input: st.test_input,
            keyboards: st.keyboards() as u32,
            syslog_connected: st.syslog.connected(),
            syslog_dropped: st.syslog.dropped(),
            sessions: st
                .monitored_sessions()
                .into_iter()
                .map(|s| MonitoredSession {
                    phase: phase_name(&s.phase),
                    risk: s.risk.unwrap_or(-1.0),
                    last_score: s.last_score.unwrap_or(-1.0),
                    window_fill: u32::try_from(s.window_fill).unwrap_or(u32::MAX),
                    session: s.session,
                    user: s.user,
                    seat: s.seat,
                    keystrokes: s.keystrokes,
                })
                .collect(),
            monitoring: self.monitoring().await,
        })
    }

    async fn users(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Vec<UserInfo>, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        let config = st.config();
        let rows = st.store.users(None).map_err(|e| st.storage(e))?;
        rows.iter()
            .map(|r| {
                user_info(
                    st,
                    &r.name,
                    r.uid.clamp(0, i64::from(u32::MAX)) as u32,
                    Some(r),
                    &config,
                )
            })
            .collect()
    }

    async fn show_user(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: &str,
    ) -> Result<UserInfo, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        let acct = account(user)?;
        let row = st.store.user(&acct.name).map_err(|e| st.storage(e))?;
        user_info(st, &acct.name, acct.uid, row.as_ref(), &st.config())
    }

    async fn remove_pattern(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: &str,
    ) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        check_user_name(user)?;
        // The session monitor's profile of the user's ordinary typing goes with the
        // pattern: whoever enrolls next starts a fresh learning period, not on stale timings.
        let removed_any = st.commit(|tx, audit| {
            let pattern = tx.delete_template(user)?;
            let profile = tx.delete_profile(user)?;
            if pattern {
                audit.log(tx, Event::BehaviorUnenrolled, user, "success", SOURCE, "")?;
            }
            Ok(pattern || profile)
        })?;
        if !removed_any {
            return Err(Error::NotEnrolled(format!("{user} has no typing pattern")));
        }
        Ok(())
    }

    async fn remove_pin(&self, #[zbus(header)] hdr: Header<'_>, user: &str) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        check_user_name(user)?;
        let removed = st.commit(|tx, audit| {
            let removed = tx.delete_pin(user)?;
            if removed {
                audit.log(tx, Event::PinUnenrolled, user, "success", SOURCE, "")?;
            }
            Ok(removed)
        })?;
        if !removed {
            return Err(Error::NotEnrolled(format!("{user} has no PIN")));
        }
        Ok(())
    }

    async fn set_pin(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: &str,
        pin: &str,
    ) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        check_len("pin", pin)?;
        let pin = pin::Secret::new(pin.to_string());
        let acct = account(user)?;
        let config = st.config();
        pin::check_format(&pin, config.pin.length)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let cost = config.pin.clone();
        let phc = st
            .blocking(move || pin::hash(&pin, &cost))
            .await?
            .map_err(|e| Error::Storage(format!("cannot hash the PIN: {e}")))?;
        st.commit(|tx, audit| {
            let had = tx.delete_pin(&acct.name)?;
            tx.put_pin(&acct.name, acct.uid, &phc, audit.now)?;
            let event = if had {
                Event::PinUpdated
            } else {
                Event::PinEnrolled
            };
            audit.log(tx, event, &acct.name, "success", SOURCE, "")
        })
    }

    async fn reset_lockout(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: &str,
    ) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        check_user_name(user)?;
        let had_record = st.commit(|tx, _| tx.reset_failures(user))?;
        if !had_record {
            // Nothing to clear is fine for a real account, but a mistyped name must not
            // look like a lockout that was ended.
            account(user)?;
        }
        Ok(())
    }

    async fn events(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        filter: EventFilter,
    ) -> Result<Vec<IpcEvent>, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        check_len("user", &filter.user)?;
        check_len("name", &filter.name)?;
        if !filter.name.is_empty() && !Event::ALL.iter().any(|e| e.name() == filter.name) {
            return Err(Error::InvalidArgument(format!(
                "{:?} is not an event name (E_BEHAVIOR_AUTH_ENROLLED, E_USER_PIN_FAILED, ...)",
                filter.name
            )));
        }
        let q = EventQuery {
            user: (!filter.user.is_empty()).then_some(filter.user),
            name: (!filter.name.is_empty()).then_some(filter.name),
            since_ms: (filter.since_ms > 0).then_some(filter.since_ms),
            after_id: (filter.after_id > 0).then_some(filter.after_id),
            limit: match filter.limit {
                0 => MAX_EVENTS,
                n => n.min(MAX_EVENTS),
            },
        };
        let events = st.store.events(&q).map_err(|e| st.storage(e))?;
        // A mistyped name must not look like a user with nothing to show; a removed
        // account's past events are still shown.
        if events.is_empty() {
            if let Some(user) = &q.user {
                account(user)?;
            }
        }
        Ok(events)
    }

    async fn settings(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Vec<Setting>, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        let overrides = st.store.settings().map_err(|e| st.storage(e))?;
        let config = st.config();
        Ok(config::SETTABLE
            .iter()
            .map(|key| {
                let source = if overrides.iter().any(|(k, _)| k == key) {
                    "override"
                } else if config::defined_in(st.file_text(), key) {
                    "file"
                } else {
                    "default"
                };
                Setting {
                    key: key.to_string(),
                    value: config.get(key).unwrap_or_default(),
                    source: source.to_string(),
                }
            })
            .collect())
    }

    async fn set(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        value: &str,
    ) -> Result<(), Error> {
        self.apply_setting(&hdr, key, value, false).await
    }

    async fn set_forced(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        value: &str,
    ) -> Result<(), Error> {
        self.apply_setting(&hdr, key, value, true).await
    }

    async fn unset(&self, #[zbus(header)] hdr: Header<'_>, key: &str) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        check_len("key", key)?;
        if let Some(why) = config::not_settable(key) {
            return Err(Error::InvalidArgument(why));
        }
        if key == "phrase" {
            let mut overrides = st.store.settings().map_err(|e| st.storage(e))?;
            overrides.retain(|(k, _)| k != key);
            let (after, _) = config::effective(st.file_text(), &overrides)
                .map_err(|e| Error::InvalidArgument(e.reason))?;
            self.phrase_change_allowed(
                &after.phrase,
                &format!("`set phrase {:?} --force` does so", after.phrase),
            )?;
        }
        let removed = st.commit(|tx, audit| {
            let removed = tx.unset_setting(key)?;
            if removed {
                audit.log(
                    tx,
                    Event::SettingsChanged,
                    "root",
                    &format!("unset {key}"),
                    SOURCE,
                    "",
                )?;
            }
            Ok(removed)
        })?;
        if !removed {
            return Err(Error::InvalidArgument(format!("{key} has no override")));
        }
        st.reload_overrides()?;
        self.settings_applied(key).await
    }

    async fn policy(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Policy, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        st.require_root(&hdr).await?;
        let c = st.config();
        Ok(Policy {
            default_journey: c.default_journey.as_str().to_string(),
            rules: c
                .rules
                .iter()
                .map(|r| Rule {
                    users: r.users.clone(),
                    groups: r.groups.clone(),
                    services: r.services.clone(),
                    ttys: r.ttys.clone(),
                    journey: r.journey.as_str().to_string(),
                })
                .collect(),
            fail: match c.fail {
                config::FailMode::Open => "open".into(),
                config::FailMode::Closed => "closed".into(),
            },
            deny_remote: c.deny_remote,
        })
    }

    /// Every audit event as it is recorded.
    #[zbus(signal)]
    async fn event_logged(emitter: &SignalEmitter<'_>, event: IpcEvent) -> zbus::Result<()>;
}
