//! `org.behaviord.Auth1`: one login conversation per handle (see `behavior_ipc::auth`).

use std::sync::Arc;
use std::time::Duration;

use behavior_core::fixed::{self, Params, Template};
use behavior_core::Sample;
use behavior_ipc::auth::{
    Begin, EnrollStatus, EnrollStep, Outcome, Stage, VerifyStatus, VerifyStep,
};
use behavior_ipc::Error;
use rand::RngCore;
use zbus::message::Header;
use zeroize::Zeroizing;

use super::{account, check_len, now_ms, remaining, State};
use crate::accounts::Account;
use crate::audit::Event;
use crate::config::{Config, Journey};
use crate::matching::{self, Typing};
use crate::pin;
use crate::policy::{self, Login};

const SOURCE: &str = "pam";

/// How long `Submit*` waits for keys still held (the last letter is often released after
/// Enter was pressed and the text submitted).
const RELEASE_GRACE: Duration = Duration::from_millis(300);
/// How long closing a window waits for the key reader to hand over what the kernel has.
const SETTLE_TIMEOUT: Duration = Duration::from_millis(500);

/// One login conversation.
pub struct Session {
    account: Account,
    service: String,
    journey: Journey,
    stage: Stage,
    config: Arc<Config>,
    params: Params,
    template: Option<Template>,
    samples: Vec<Sample>,
    enrolled_now: bool,
    skipped: bool,
    allow_skip: bool,
    behavior_passed: bool,
    tries_left: u32,
    pin_verify: bool,
    pin_enroll: bool,
    pin_passed: bool,
    pin_tries_left: u32,
    /// The template adapted from this login's accepted typing (JSON), stored only if the
    /// whole login succeeds: a login that then fails its PIN must not move the template.
    adapted_template: Option<String>,
}

impl Session {
    /// Every factor the journey requires passed, or the typing was waived: by an allowed
    /// skip, or because this login enrolled it (enrolling proves nothing about who typed,
    /// so it is never counted as the typing factor, see `factors`).
    fn success(&self) -> bool {
        let waived = self.skipped || self.enrolled_now;
        let behavior = !self.journey.needs_behavior() || self.behavior_passed || waived;
        let pin = !(self.journey.needs_pin() || self.pin_enroll) || self.pin_passed;
        self.journey == Journey::None || (behavior && pin)
    }

    fn factors(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.behavior_passed {
            f.push("behavior".to_string());
        }
        if self.pin_passed {
            f.push("pin".to_string());
        }
        f
    }

    /// The login succeeded on the strength of at least one factor proven here (not only a
    /// skip or a `none` journey): only then are failures forgiven and the template adapted.
    fn proven(&self) -> bool {
        self.success() && (self.behavior_passed || self.pin_passed)
    }
}

/// Sentences for typings that cannot be scored.
pub(crate) const CORRECTED: &str =
    "The phrase was corrected while typing; please type it again without corrections.";
pub(crate) const NOTHING: &str =
    "No typing was captured from the keyboard; please type the phrase again.";

/// When a template enrolled at `enrolled_at` must be renewed (0: never).
pub(crate) fn template_expiry(enrolled_at: i64, config: &Config) -> i64 {
    match config.enrollment.template_validity_days {
        0 => 0,
        days => enrolled_at + i64::from(days) * 86_400_000,
    }
}

fn is_remote(rhost: &str) -> bool {
    !matches!(rhost, "" | "localhost" | "127.0.0.1" | "::1")
}

/// What a login must do, from the journey and what the user has.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    stage: Stage,
    pin_verify: bool,
    pin_enroll: bool,
}

/// Pure: the stage and PIN steps of a login; `Err` says what the user lacks when the policy
/// offers no way to get it.
fn plan(
    journey: Journey,
    enrolled: bool,
    pin_set: bool,
    config: &Config,
) -> Result<Plan, &'static str> {
    let stage = match journey {
        Journey::None => Stage::Skip,
        Journey::Pin => Stage::PinOnly,
        Journey::Behavior | Journey::BehaviorPin if enrolled => Stage::Verify,
        Journey::Behavior | Journey::BehaviorPin if config.enrollment.behavior => Stage::Enroll,
        Journey::Behavior | Journey::BehaviorPin => {
            return Err("has no typing pattern and enrollment is disabled")
        }
    };
    // A PIN is verified when the journey asks for one; set up when it asks and none exists,
    // or during typing enrollment when PIN enrollment is on (product.md, enrollment step 3).
    let pin_verify = journey.needs_pin() && pin_set;
    let pin_enroll =
        !pin_set && config.enrollment.pin && (journey.needs_pin() || stage == Stage::Enroll);
    if journey.needs_pin() && !pin_set && !pin_enroll {
        return Err("has no PIN and PIN enrollment is disabled");
    }
    Ok(Plan {
        stage,
        pin_verify,
        pin_enroll,
    })
}

pub(crate) fn new_handle() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct AuthObject {
    pub state: Arc<State>,
}

/// The user's current template: `None` when not enrolled or expired; a corrupt row is a
/// storage error naming it.
pub(crate) fn current_template(
    st: &State,
    user: &str,
    config: &Config,
    now: i64,
) -> Result<Option<Template>, Error> {
    let Some(row) = st.store.template(user).map_err(|e| st.storage(e))? else {
        return Ok(None);
    };
    let expires = template_expiry(row.enrolled_at, config);
    if expires != 0 && expires <= now {
        return Ok(None);
    }
    matching::from_json(&row.json).map(Some).map_err(|reason| {
        st.storage(crate::store::StoreError::Corrupt {
            table: "templates",
            key: user.to_string(),
            reason,
        })
    })
}

/// Waits until the keys the kernel stamped before now have reached the capture windows
/// (the typed text can arrive before the key reader has read the last keys), then briefly
/// for keys still held, then takes the handle's capture.
pub(crate) async fn take_capture(
    st: &State,
    handle: &str,
) -> Result<crate::capture::Captured, Error> {
    let captures = st.captures.clone();
    let input = st.input();
    let h = handle.to_string();
    let waited = st
        .rt
        .spawn(async move {
            if let Some(input) = input {
                let sent = tokio::task::spawn_blocking(move || input.sync(SETTLE_TIMEOUT)).await;
                // A reader that does not answer leaves the window as it is: a typing it
                // missed fails the key check, it never passes.
                // The reader is the key channel's only producer when it runs (injection
                // exists only without it), so its count is the capture loop's target.
                if let Ok(Some(sent)) = sent {
                    captures.wait_processed(sent, SETTLE_TIMEOUT).await;
                }
            }
            let end = tokio::time::Instant::now() + RELEASE_GRACE;
            while captures.holding(&h) && tokio::time::Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    if waited.is_err() {
        return Err(Error::Unavailable("internal task failed".into()));
    }
    st.captures.take(handle, st.lost_events()).ok_or_else(|| {
        Error::WrongStage("no capture is open: call OpenCapture before each typing".into())
    })
}

impl AuthObject {
    /// Counts a failure towards the lockout, with its event (and `E_USER_LOCKED_OUT`).
    /// Returns the lock end when the user is now locked out.
    fn fail(&self, s: &Session, event: Event) -> Result<Option<i64>, Error> {
        let cfg = &s.config;
        let user = s.account.name.clone();
        let uid = s.account.uid;
        let service = s.service.clone();
        self.state.commit(|tx, audit| {
            audit.log(tx, event, &user, "failure", SOURCE, &service)?;
            let locked = tx.record_failure(
                &user,
                uid,
                audit.now,
                cfg.lockout.failures,
                cfg.lockout_ms(),
            )?;
            if locked.is_some() {
                audit.log(tx, Event::LockedOut, &user, "locked", SOURCE, &service)?;
            }
            Ok(locked)
        })
    }

    /// A wrong typing (`BehaviorFailed`) or PIN (`PinFailed`): one try of that factor less,
    /// counted towards the lockout.
    fn reject(&self, s: &mut Session, event: Event) -> Result<VerifyStep, Error> {
        fn tries(s: &mut Session, event: Event) -> &mut u32 {
            match event {
                Event::PinFailed => &mut s.pin_tries_left,
                _ => &mut s.tries_left,
            }
        }
        *tries(s, event) -= 1;
        if let Some(until) = self.fail(s, event)? {
            *tries(s, event) = 0;
            return Ok(exhausted(0, &locked_message(until, now_ms())));
        }
        let left = *tries(s, event);
        if left == 0 {
            return Ok(exhausted(0, "No tries left."));
        }
        Ok(VerifyStep {
            status: VerifyStatus::Rejected,
            tries_left: left,
            message: String::new(),
        })
    }

    fn locked_until(&self, user: &str, now: i64) -> Result<Option<i64>, Error> {
        let (_, until) = self
            .state
            .store
            .lockout(user)
            .map_err(|e| self.state.storage(e))?;
        Ok((until > now).then_some(until))
    }
}

#[zbus::interface(name = "org.behaviord.Auth1")]
impl AuthObject {
    async fn begin(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        user: &str,
        service: &str,
        tty: &str,
        rhost: &str,
    ) -> Result<Begin, Error> {
        super::check_login_strings(service, tty, rhost)?;
        let st = &self.state;
        let _g = st.enter()?;
        for (what, s) in [("service", service), ("tty", tty), ("rhost", rhost)] {
            check_len(what, s)?;
        }
        let (caller, uid) = st.caller(&hdr).await?;
        let account = account(user)?;
        if uid != 0 && uid != account.uid {
            return Err(Error::AccessDenied(format!(
                "uid {uid} may not authenticate another user"
            )));
        }
        let config = st.config();
        if is_remote(rhost) {
            return Err(if config.deny_remote {
                Error::PolicyDenied("remote logins are denied by policy".into())
            } else {
                Error::Unavailable("typing timings are not available for remote logins".into())
            });
        }
        let journey = policy::resolve(
            &config,
            &Login {
                user,
                groups: &account.groups,
                service,
                tty,
            },
        );
        let now = now_ms();
        if let Some(until) = self.locked_until(user, now)? {
            return Err(Error::LockedOut(format!(
                "too many failures: {user} is locked out for {}",
                remaining(until, now)
            )));
        }
        let template = current_template(st, user, &config, now)?;
        let pin_set = st
            .store
            .pin_hash(user)
            .map_err(|e| st.storage(e))?
            .is_some();

        let Plan {
            stage,
            pin_verify,
            pin_enroll,
        } = plan(journey, template.is_some(), pin_set, &config)
            .map_err(|what| Error::NotEnrolled(format!("{user} {what}")))?;
        // A user may unlock their own screen (verify only); enrolling takes root.
        if uid != 0 && (stage == Stage::Enroll || pin_enroll) {
            return Err(Error::AccessDenied(
                "only root may begin an enrollment".into(),
            ));
        }

        let handle = new_handle();
        let allow_skip = stage == Stage::Enroll && config.enrollment.allow_skip;
        let reply = Begin {
            handle: handle.clone(),
            journey: journey.as_str().to_string(),
            stage,
            phrase: if matches!(stage, Stage::Verify | Stage::Enroll) {
                config.phrase.clone()
            } else {
                String::new()
            },
            enroll_attempts: config.enrollment.attempts,
            max_tries: config.verify.max_tries,
            pin_verify,
            pin_enroll,
            pin_length: config.pin.length,
            allow_skip,
            timeout_secs: config.handle_timeout_secs,
        };
        let session = Session {
            account,
            service: service.to_string(),
            journey,
            stage,
            params: matching::params(&config),
            template,
            samples: Vec::new(),
            enrolled_now: false,
            skipped: false,
            allow_skip,
            behavior_passed: false,
            tries_left: config.verify.max_tries,
            pin_verify,
            pin_enroll,
            pin_passed: false,
            pin_tries_left: config.verify.max_tries,
            adapted_template: None,
            config: config.clone(),
        };
        st.insert_session(
            handle,
            &caller,
            uid,
            Duration::from_secs(u64::from(config.handle_timeout_secs)),
            session,
        )?;
        Ok(reply)
    }

    async fn open_capture(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        handle: &str,
    ) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        let session = st.caller_session(&hdr, handle).await?;
        let s = session.lock().await;
        let open = match s.stage {
            Stage::Enroll => !s.enrolled_now && !s.skipped,
            Stage::Verify => !s.behavior_passed && s.tries_left > 0,
            Stage::PinOnly | Stage::Skip => false,
        };
        if !open {
            return Err(Error::WrongStage(
                "this authentication takes no typing now".into(),
            ));
        }
        st.captures.open(handle, st.lost_events());
        Ok(())
    }

    async fn submit_enrollment(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        handle: &str,
        typed: &str,
    ) -> Result<EnrollStep, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        check_len("typed", typed)?;
        let typed = Zeroizing::new(typed.to_string());
        let session = st.caller_session(&hdr, handle).await?;
        let mut s = session.lock().await;
        if s.stage != Stage::Enroll || s.enrolled_now || s.skipped {
            return Err(Error::WrongStage(
                "this authentication is not enrolling".into(),
            ));
        }
        let captured = take_capture(st, handle).await?;
        let attempts = s.config.enrollment.attempts;
        let step = |status, message: &str, s: &Session| EnrollStep {
            status,
            attempt: s.samples.len() as u32 + 1,
            attempts,
            message: message.to_string(),
        };
        if typed.as_str() != s.config.phrase {
            return Ok(step(EnrollStatus::Mismatch, "", &s));
        }
        let sample = match matching::judge(&captured, &typed) {
            Typing::Usable(sample) => sample,
            Typing::Corrected => return Ok(step(EnrollStatus::Retry, CORRECTED, &s)),
            Typing::Mismatch => {
                return Ok(step(
                    EnrollStatus::Retry,
                    "The keys pressed do not match the typed phrase; please type it again.",
                    &s,
                ))
            }
            Typing::Nothing => return Ok(step(EnrollStatus::Retry, NOTHING, &s)),
        };
        if let Err(why) = fixed::check_candidate(&s.samples, &sample, &s.params) {
            return Ok(step(EnrollStatus::Retry, &why.to_string(), &s));
        }
        s.samples.push(sample);
        if (s.samples.len() as u32) < attempts {
            return Ok(step(EnrollStatus::Accepted, "", &s));
        }
        let template = match fixed::enroll(&s.samples, &s.params) {
            Ok(t) => t,
            Err(why) => {
                // Should not happen after check_candidate; start over rather than store it.
                s.samples.clear();
                return Ok(step(EnrollStatus::Retry, &why.to_string(), &s));
            }
        };
        let json = matching::to_json(&template)
            .map_err(|e| Error::Storage(format!("cannot encode the template: {e}")))?;
        let (user, uid, service) = (s.account.name.clone(), s.account.uid, s.service.clone());
        st.commit(|tx, audit| {
            tx.put_template(&user, uid, &json, audit.now, false)?;
            audit.log(
                tx,
                Event::BehaviorEnrolled,
                &user,
                "success",
                SOURCE,
                &service,
            )
        })?;
        s.samples.clear();
        s.template = Some(template);
        s.enrolled_now = true;
        Ok(EnrollStep {
            status: EnrollStatus::Complete,
            attempt: attempts,
            attempts,
            message: String::new(),
        })
    }

    async fn skip_enrollment(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        handle: &str,
    ) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        let session = st.caller_session(&hdr, handle).await?;
        let mut s = session.lock().await;
        if s.stage != Stage::Enroll || s.enrolled_now {
            return Err(Error::WrongStage(
                "this authentication is not enrolling".into(),
            ));
        }
        if !s.allow_skip {
            return Err(Error::PolicyDenied(
                "the policy does not allow skipping enrollment".into(),
            ));
        }
        s.skipped = true;
        s.samples.clear();
        st.captures.close(handle);
        Ok(())
    }

    async fn submit_verification(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        handle: &str,
        typed: &str,
    ) -> Result<VerifyStep, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        check_len("typed", typed)?;
        let typed = Zeroizing::new(typed.to_string());
        let session = st.caller_session(&hdr, handle).await?;
        let mut s = session.lock().await;
        if s.stage != Stage::Verify || s.behavior_passed {
            return Err(Error::WrongStage(
                "this authentication is not verifying typing".into(),
            ));
        }
        let captured = take_capture(st, handle).await?;
        let now = now_ms();
        if s.tries_left == 0 {
            return Ok(exhausted(0, "No tries left."));
        }
        if let Some(until) = self.locked_until(&s.account.name, now)? {
            s.tries_left = 0;
            return Ok(exhausted(0, &locked_message(until, now)));
        }
        let verdict = if typed.as_str() != s.config.phrase {
            None
        } else {
            match matching::judge(&captured, &typed) {
                Typing::Usable(sample) => s
                    .template
                    .as_ref()
                    .map(|t| (fixed::verify(t, &sample, &s.params), sample)),
                Typing::Mismatch => None,
                Typing::Corrected => {
                    return Ok(VerifyStep {
                        status: VerifyStatus::Retry,
                        tries_left: s.tries_left,
                        message: CORRECTED.into(),
                    })
                }
                Typing::Nothing => {
                    return Ok(VerifyStep {
                        status: VerifyStatus::Retry,
                        tries_left: s.tries_left,
                        message: NOTHING.into(),
                    })
                }
            }
        };
        let (user, service) = (s.account.name.clone(), s.service.clone());
        match verdict {
            Some((v, sample)) if v.accepted => {
                // Failures are forgiven and the template adapted at `Finish`, once every
                // factor passed: a typing that passes must not reset the count of wrong PINs.
                let mut adapted = s.template.clone();
                if let Some(t) = adapted.as_mut() {
                    if fixed::adapt(t, &sample, &v, &s.params) {
                        s.adapted_template = matching::to_json(t).ok();
                    }
                }
                st.commit(|tx, audit| {
                    audit.log(
                        tx,
                        Event::BehaviorSucceeded,
                        &user,
                        "success",
                        SOURCE,
                        &service,
                    )
                })?;
                s.behavior_passed = true;
                Ok(VerifyStep {
                    status: VerifyStatus::Accepted,
                    tries_left: s.tries_left,
                    message: String::new(),
                })
            }
            _ => self.reject(&mut s, Event::BehaviorFailed),
        }
    }

    async fn enroll_pin(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        handle: &str,
        pin: &str,
    ) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        check_len("pin", pin)?;
        let pin = pin::Secret::new(pin.to_string());
        let session = st.caller_session(&hdr, handle).await?;
        let mut s = session.lock().await;
        if !s.pin_enroll || s.pin_passed {
            return Err(Error::WrongStage(
                "this authentication does not set up a PIN".into(),
            ));
        }
        pin::check_format(&pin, s.config.pin.length)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let cost = s.config.pin.clone();
        let phc = st
            .blocking(move || pin::hash(&pin, &cost))
            .await?
            .map_err(|e| Error::Storage(format!("cannot hash the PIN: {e}")))?;
        let (user, uid, service) = (s.account.name.clone(), s.account.uid, s.service.clone());
        st.commit(|tx, audit| {
            tx.put_pin(&user, uid, &phc, audit.now)?;
            audit.log(tx, Event::PinEnrolled, &user, "success", SOURCE, &service)
        })?;
        s.pin_passed = true;
        Ok(())
    }

    async fn verify_pin(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        handle: &str,
        pin: &str,
    ) -> Result<VerifyStep, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        check_len("pin", pin)?;
        let pin = pin::Secret::new(pin.to_string());
        let session = st.caller_session(&hdr, handle).await?;
        let mut s = session.lock().await;
        if !s.pin_verify || s.pin_passed {
            return Err(Error::WrongStage(
                "this authentication does not verify a PIN".into(),
            ));
        }
        if s.pin_tries_left == 0 {
            return Ok(exhausted(0, "No tries left."));
        }
        let now = now_ms();
        let user = s.account.name.clone();
        if let Some(until) = self.locked_until(&user, now)? {
            s.pin_tries_left = 0;
            return Ok(exhausted(0, &locked_message(until, now)));
        }
        let phc = st
            .store
            .pin_hash(&user)
            .map_err(|e| st.storage(e))?
            .ok_or_else(|| Error::NotEnrolled(format!("{user} has no PIN")))?;
        let ok = st
            .blocking(move || pin::verify(&pin, &phc))
            .await?
            .map_err(|e| {
                st.storage(crate::store::StoreError::Corrupt {
                    table: "pins",
                    key: user.clone(),
                    reason: e.to_string(),
                })
            })?;
        if ok {
            s.pin_passed = true;
            return Ok(VerifyStep {
                status: VerifyStatus::Accepted,
                tries_left: s.pin_tries_left,
                message: String::new(),
            });
        }
        self.reject(&mut s, Event::PinFailed)
    }

    async fn finish(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        handle: &str,
    ) -> Result<Outcome, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        let session = st.caller_session(&hdr, handle).await?;
        st.remove_session(handle);
        let s = session.lock().await;
        if s.proven() {
            // A store that cannot record this hands out no success.
            let (user, uid) = (&s.account.name, s.account.uid);
            st.commit(|tx, audit| {
                tx.reset_failures(user)?;
                if let Some(json) = &s.adapted_template {
                    tx.put_template(user, uid, json, audit.now, true)?;
                }
                Ok(())
            })?;
        }
        Ok(Outcome {
            success: s.success(),
            factors: s.factors(),
        })
    }
}

fn exhausted(tries_left: u32, message: &str) -> VerifyStep {
    VerifyStep {
        status: VerifyStatus::Exhausted,
        tries_left,
        message: message.to_string(),
    }
}

fn locked_message(until: i64, now: i64) -> String {
    format!(
        "Too many failed attempts: locked out for {}.",
        remaining(until, now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(journey: Journey) -> Session {
        Session {
            account: Account {
                name: "ann".into(),
                uid: 1000,
                groups: vec![],
            },
            service: "login".into(),
            journey,
            stage: Stage::Verify,
            config: Arc::new(Config::default()),
            params: Params::default(),
            template: None,
            samples: vec![],
            enrolled_now: false,
            skipped: false,
            allow_skip: false,
            behavior_passed: false,
            tries_left: 3,
            pin_verify: true,
            pin_enroll: false,
            pin_passed: false,
            pin_tries_left: 3,
            adapted_template: None,
        }
    }

    #[test]
    fn success_needs_every_factor_of_the_journey() {
        let mut s = session(Journey::BehaviorPin);
        assert!(!s.success());
        s.behavior_passed = true;
        assert!(!s.success(), "PIN still missing");
        s.pin_passed = true;
        assert!(s.success());
        assert_eq!(s.factors(), vec!["behavior", "pin"]);

        let mut s = session(Journey::Behavior);
        assert!(!s.success());
        s.skipped = true;
        assert!(s.success(), "an allowed skip waives the typing");
        assert!(!s.proven(), "but proves nothing");

        let mut s = session(Journey::Behavior);
        s.enrolled_now = true;
        assert!(s.success(), "enrolling waives the typing");
        assert!(s.factors().is_empty(), "but does not pass it");
        assert!(!s.proven());
        s.pin_enroll = true;
        assert!(!s.success(), "the PIN set-up asked for must still happen");
        s.pin_passed = true;
        assert_eq!(s.factors(), vec!["pin"]);

        let mut s = session(Journey::Pin);
        s.behavior_passed = true;
        assert!(!s.success());

        let mut s = session(Journey::Behavior);
        s.pin_enroll = true;
        s.behavior_passed = true;
        assert!(!s.success(), "a PIN set-up that was asked for must happen");

        assert!(session(Journey::None).success());
    }

    #[test]
    fn plans() {
        let mut c = Config::default();
        let p = |j, e, s, c: &Config| plan(j, e, s, c);
        assert!(
            p(Journey::BehaviorPin, false, true, &c).is_err(),
            "enrollment off"
        );
        assert!(
            p(Journey::Pin, true, false, &c).is_err(),
            "PIN enrollment off"
        );
        assert_eq!(
            p(Journey::BehaviorPin, true, true, &c),
            Ok(Plan {
                stage: Stage::Verify,
                pin_verify: true,
                pin_enroll: false
            })
        );
        assert_eq!(
            p(Journey::Behavior, true, true, &c),
            Ok(Plan {
                stage: Stage::Verify,
                pin_verify: false,
                pin_enroll: false
            })
        );
        assert_eq!(
            p(Journey::None, false, false, &c),
            Ok(Plan {
                stage: Stage::Skip,
                pin_verify: false,
                pin_enroll: false
            })
        );
        c.enrollment.behavior = true;
        c.enrollment.pin = true;
        assert_eq!(
            p(Journey::BehaviorPin, false, false, &c),
            Ok(Plan {
                stage: Stage::Enroll,
                pin_verify: false,
                pin_enroll: true
            })
        );
        // Enrolling typing under a typing-only journey still sets up a missing PIN, but
        // does not ask for an existing one.
        assert_eq!(
            p(Journey::Behavior, false, false, &c),
            Ok(Plan {
                stage: Stage::Enroll,
                pin_verify: false,
                pin_enroll: true
            })
        );
        assert_eq!(
            p(Journey::Behavior, false, true, &c),
            Ok(Plan {
                stage: Stage::Enroll,
                pin_verify: false,
                pin_enroll: false
            })
        );
        assert_eq!(
            p(Journey::Pin, false, false, &c),
            Ok(Plan {
                stage: Stage::PinOnly,
                pin_verify: false,
                pin_enroll: true
            })
        );
    }

    #[test]
    fn remote_hosts_and_handles() {
        assert!(!is_remote(""));
        assert!(!is_remote("localhost"));
        assert!(is_remote("10.0.0.1"));
        let a = new_handle();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_handle());
    }
}
