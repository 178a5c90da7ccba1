//! `org.behaviord.User1`: a user's own status and PIN change, for the caller's uid only.

use std::sync::Arc;

use behavior_ipc::user::SelfStatus;
use behavior_ipc::Error;
use zbus::message::Header;

use super::auth::template_expiry;
use super::{check_len, now_ms, remaining, State};
use crate::accounts::{self, Account};
use crate::audit::Event;
use crate::pin;

const SOURCE: &str = "self-service";

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
            .blocking(move || pin::verify(&current, &phc))
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
            .blocking(move || pin::hash(&new, &cost))
            .await?
            .map_err(|e| Error::Storage(format!("cannot hash the PIN: {e}")))?;
        st.commit(|tx, audit| {
            tx.put_pin(&me.name, me.uid, &phc, audit.now)?;
            tx.reset_failures(&me.name)?;
            audit.log(tx, Event::PinUpdated, &me.name, "success", SOURCE, "")
        })
    }
}
