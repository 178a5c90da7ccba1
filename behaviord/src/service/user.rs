//! `org.behaviord.User1`: a user's own status and PIN change, for the caller's uid only.

use std::sync::Arc;

use behavior_core::fixed;
use behavior_ipc::user::{SelfStatus, Trial, TrialResult};
use behavior_ipc::Error;
use zbus::message::Header;

use super::auth::{current_template, take_capture, template_expiry, CORRECTED, NOTHING};
use super::{check_len, now_ms, remaining, State};
use crate::accounts::{self, Account};
use crate::audit::Event;
use crate::matching::{self, Typing};
use crate::pin;

const SOURCE: &str = "self-service";
/// How long a trial waits for its typing.
const TRIAL_SECS: u32 = 120;

pub struct UserObject {
    pub state: Arc<State>,
}

impl UserObject {
    async fn me(&self, hdr: &Header<'_>) -> Result<Account, Error> {
        let (_, uid) = self.state.caller(hdr).await?;
        accounts::by_uid(uid)
            .ok_or_else(|| Error::UnknownUser(format!("uid {uid} has no account on this system")))
    }
}

#[zbus::interface(name = "org.behaviord.User1")]
impl UserObject {
    async fn status(&self, #[zbus(header)] hdr: Header<'_>) -> Result<SelfStatus, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        let me = self.me(&hdr).await?;
        let config = st.config();
        let template = st.store.template(&me.name).map_err(|e| st.storage(e))?;
        let pin_set = st
            .store
            .pin_hash(&me.name)
            .map_err(|e| st.storage(e))?
            .is_some();
        let (_, locked_until) = st.store.lockout(&me.name).map_err(|e| st.storage(e))?;
        let enrolled_at = template.as_ref().map_or(0, |t| t.enrolled_at);
        Ok(SelfStatus {
            user: me.name,
            enrolled: template.is_some(),
            enrolled_at_ms: enrolled_at,
            template_expires_ms: if template.is_some() {
                template_expiry(enrolled_at, &config)
            } else {
                0
            },
            pin_set,
            pin_length: config.pin.length,
            locked_until_ms: locked_until,
        })
    }

    async fn begin_trial(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Trial, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        let (caller, uid) = st.caller(&hdr).await?;
        let me = accounts::by_uid(uid).ok_or_else(|| {
            Error::UnknownUser(format!("uid {uid} has no account on this system"))
        })?;
        let config = st.config();
        if current_template(st, &me.name, &config, now_ms())?.is_none() {
            return Err(Error::NotEnrolled(
                "you have no typing pattern to try".into(),
            ));
        }
        // A trial records keys like a login: only of the caller's own seat, and only for a
        // caller at the keyboard (an ssh user's trial would take, and spoil by overlap, the
        // console's keys).
        let pid = st.caller_pid(&caller).await;
        let seat =
            crate::locality::login_seat(st, pid, crate::locality::decide_trial, true).await?;
        let handle = st.begin_trial(
            &caller,
            uid,
            &me.name,
            &seat,
            std::time::Duration::from_secs(u64::from(TRIAL_SECS)),
        )?;
        Ok(Trial {
            handle,
            phrase: config.phrase.clone(),
            timeout_secs: TRIAL_SECS,
        })
    }

    async fn submit_trial(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        handle: &str,
        typed: &str,
    ) -> Result<TrialResult, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        check_len("typed", typed)?;
        let typed = zeroize::Zeroizing::new(typed.to_string());
        let (caller, uid) = st.caller(&hdr).await?;
        let user = st.end_trial(handle, &caller)?;
        let captured = take_capture(st, handle).await?;
        let config = st.config();
        let template = current_template(st, &user, &config, now_ms())?
            .ok_or_else(|| Error::NotEnrolled("you have no typing pattern to try".into()))?;
        let result = |accepted: bool, message: &str| TrialResult {
            accepted,
            message: message.to_string(),
            scored: false,
            score: 0.0,
            threshold: 0.0,
        };
        if typed.as_str() != config.phrase {
            return Ok(result(false, "The typed text differs from the phrase."));
        }
        Ok(match matching::judge(&captured, &typed) {
            Typing::Usable(sample) => {
                let v = fixed::verify(&template, &sample, &matching::params(&config));
                let r = if v.accepted {
                    result(true, "This typing matches your pattern.")
                } else {
                    result(false, "This typing does not match your pattern.")
                };
                if uid == 0 {
                    TrialResult {
                        scored: true,
                        score: v.score,
                        threshold: v.threshold,
                        ..r
                    }
                } else {
                    r
                }
            }
            Typing::Mismatch => result(false, "The keys pressed do not match the typed phrase."),
            Typing::Corrected => result(false, CORRECTED),
            Typing::Nothing => result(false, NOTHING),
        })
    }

    async fn change_pin(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        current: &str,
        new: &str,
    ) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        check_len("current", current)?;
        check_len("new", new)?;
        let current = pin::Secret::new(current.to_string());
        let new = pin::Secret::new(new.to_string());
        let me = self.me(&hdr).await?;
        let config = st.config();
        pin::check_format(&new, config.pin.length)
            .map_err(|e| Error::InvalidArgument(format!("new PIN: {e}")))?;
        let now = now_ms();
        let (_, until) = st.store.lockout(&me.name).map_err(|e| st.storage(e))?;
        if until > now {
            return Err(Error::LockedOut(format!(
                "too many failures: locked out for {}",
                remaining(until, now)
            )));
        }
        let phc = st
            .store
            .pin_hash(&me.name)
            .map_err(|e| st.storage(e))?
            .ok_or_else(|| Error::NotEnrolled("you have no PIN to change".into()))?;
        let ok = st
            .blocking_as(me.uid, move || pin::verify(&current, &phc))
            .await?
            .map_err(|e| {
                Error::Storage(format!("the stored PIN of {} cannot be read: {e}", me.name))
            })?;
        if !ok {
            let locked = st.commit(|tx, audit| {
                audit.log(tx, Event::PinFailed, &me.name, "failure", SOURCE, "")?;
                let locked = tx.record_failure(
                    &me.name,
                    me.uid,
                    audit.now,
                    config.lockout.failures,
                    config.lockout_ms(),
                )?;
                if locked.is_some() {
                    audit.log(tx, Event::LockedOut, &me.name, "locked", SOURCE, "")?;
                }
                Ok(locked)
            })?;
            return Err(match locked {
                Some(until) => Error::LockedOut(format!(
                    "the current PIN is wrong; too many failures: locked out for {}",
                    remaining(until, now_ms())
                )),
                None => Error::AccessDenied("the current PIN is wrong".into()),
            });
        }
        let cost = config.pin.clone();
        let phc = st
            .blocking_as(me.uid, move || pin::hash(&new, &cost))
            .await?
            .map_err(|e| Error::Storage(format!("cannot hash the PIN: {e}")))?;
        st.commit(|tx, audit| {
            tx.put_pin(&me.name, me.uid, &phc, audit.now)?;
            tx.reset_failures(&me.name)?;
            audit.log(tx, Event::PinUpdated, &me.name, "success", SOURCE, "")
        })
    }
}
