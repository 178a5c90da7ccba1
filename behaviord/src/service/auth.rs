//! `org.behaviord.Auth1`: one login conversation per handle (see `behavior_ipc::auth`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use behavior_core::decision::{judge, Factors, Judgement};
use behavior_core::fixed::{self, Params, Template};
use behavior_core::Sample;
use behavior_ipc::auth::{
    Begin, EnrollStatus, EnrollStep, Outcome, Stage, VerifyStatus, VerifyStep,
};
use behavior_ipc::Error;
use rand::RngCore;
use zbus::message::Header;
use zeroize::Zeroizing;

use super::pending::{Enrollment, Pendings};
use super::recent::Recent;
use super::{account, check_len, now_ms, remaining, State};
use crate::accounts::Account;
use crate::audit::{Event, Record};
use crate::capture::OVERLAPPED;
use crate::config::{self, Config, Journey};
use crate::matching::{self, Typing};
use crate::pin;
use crate::policy::{self, Login};
use crate::store::StoreError;

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
    /// `PAM_TTY` and `PAM_RHOST` as the caller gave them (checked printable), for events.
    tty: String,
    rhost: String,
    /// The seat the login is typed on: its capture takes only that seat's keyboards.
    seat: String,
    journey: Journey,
    stage: Stage,
    config: Arc<Config>,
    params: Params,
    template: Option<Template>,
    /// `enrolled_at` of the template row `Begin` found, an expired one included.
    seen_template: Option<i64>,
    samples: Vec<Sample>,
    skipped: bool,
    allow_skip: bool,
    /// Factors judged passed in this login (never one that was only set up).
    passed: Factors,
    tries_left: u32,
    pin_verify: bool,
    pin_enroll: bool,
    pin_tries_left: u32,
    /// The template adapted from this login's accepted typing (JSON), stored only if the
    /// whole login is proven: a login that then fails its PIN must not move the template.
    adapted_template: Option<String>,
    /// What this login set up, stored only once the rest of the stack authenticated the
    /// user (see `pending`).
    new_template: Option<String>,
    new_pin: Option<String>,
}

impl Session {
    /// An event of this login, naming its service, tty and remote host.
    fn event<'a>(&'a self, event: Event, outcome: &'a str) -> Record<'a> {
        Record {
            service: &self.service,
            tty: &self.tty,
            rhost: &self.rhost,
            ..Record::new(event, &self.account.name, outcome, SOURCE)
        }
    }

    /// What was set up or skipped here: it may waive a factor, never pass it.
    fn waived(&self) -> Factors {
        Factors {
            behavior: self.new_template.is_some() || self.skipped,
            pin: self.new_pin.is_some() || (self.skipped && self.pin_enroll),
        }
    }

    fn judgement(&self) -> Judgement {
        judge(
            journey_factors(self.journey),
            self.passed,
            self.waived(),
            Factors::NONE,
        )
    }

    /// The set-ups this login was asked for and did not make (skipping the enrollment
    /// skips the PIN set-up with it).
    fn setups_missing(&self) -> Factors {
        Factors {
            behavior: self.stage == Stage::Enroll && !self.skipped && self.new_template.is_none(),
            pin: self.pin_enroll && !self.skipped && self.new_pin.is_none(),
        }
    }
}

/// The factors a journey requires.
fn journey_factors(journey: Journey) -> Factors {
    Factors {
        behavior: journey.needs_behavior(),
        pin: journey.needs_pin(),
    }
}

/// Sentences for typings that cannot be scored.
pub(crate) const CORRECTED: &str =
    "The phrase was corrected while typing; please type it again without corrections.";
pub(crate) const NOTHING: &str =
    "No typing was captured from the keyboard; please type the phrase again.";
pub(crate) const KEYS_DIFFER: &str =
    "The keys pressed do not match the typed phrase; please type it again.";
pub(crate) const NO_KEYBOARD: &str =
    "behaviord reads no keyboard on this machine, so the typing cannot be checked; ask an administrator.";

/// Why no typing was captured: [`NO_KEYBOARD`] when the daemon reads no keyboard at all
/// (so that "type it again" does not send the user round in circles).
fn nothing_message(st: &State) -> String {
    if !st.test_input && st.keyboards() == 0 {
        NO_KEYBOARD.into()
    } else {
        NOTHING.into()
    }
}

/// When a template enrolled at `enrolled_at` must be renewed (0: never).
pub(crate) fn template_expiry(enrolled_at: i64, config: &Config) -> i64 {
    match config.enrollment.template_validity_days {
        0 => 0,
        days => enrolled_at + i64::from(days) * 86_400_000,
    }
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

/// The user's current template: `None` when not enrolled or expired; a corrupt row is a
/// storage error naming it.
pub(crate) fn current_template(
    st: &State,
    user: &str,
    config: &Config,
    now: i64,
) -> Result<Option<Template>, Error> {
    template_state(st, user, config, now)
        .map(|(t, _)| t)
        .map_err(|e| st.storage(e))
}

/// The current template and the `enrolled_at` of the row (an expired one included); a row
/// that does not decode is [`StoreError::Corrupt`].
fn template_state(
    st: &State,
    user: &str,
    config: &Config,
    now: i64,
) -> Result<(Option<Template>, Option<i64>), StoreError> {
    let Some(row) = st.store.template(user)? else {
        return Ok((None, None));
    };
    let expires = template_expiry(row.enrolled_at, config);
    // An expired template, or one of an earlier phrase (changed with `set --force`), is
    // enrolled again, replacing that very row.
    let stale = row.for_other_phrase(&matching::phrase_digest(&config.phrase));
    if stale || (expires != 0 && expires <= now) {
        return Ok((None, Some(row.enrolled_at)));
    }
    let template = matching::from_json(&row.json).map_err(|reason| StoreError::Corrupt {
        table: "templates",
        key: user.to_string(),
        reason,
    })?;
    Ok((Some(template), Some(row.enrolled_at)))
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

/// How a typing or PIN was found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wrong {
    /// Judged: the keys typed the phrase and their timings (or the PIN) were wrong. Counts
    /// towards the lockout.
    Judged,
    /// A replay of a typing seen before: judged, and counted.
    Replay,
    /// Not judged: the text differs from the phrase, or the keys pressed do not type it.
    /// One try of this login, but nothing towards the lockout (anyone can type garbage
    /// at someone else's prompt).
    Unjudged,
}

impl Wrong {
    fn outcome(self) -> &'static str {
        match self {
            Wrong::Judged => "failure",
            Wrong::Replay => "replay",
            Wrong::Unjudged => "mismatch",
        }
    }
}

pub struct AuthObject {
    pub state: Arc<State>,
    pendings: Arc<Pendings>,
    recent: Recent,
}

/// Drops pending enrollments that timed out or whose caller left, with their events.
#[derive(Clone)]
pub struct PendingSweeper {
    state: Arc<State>,
    pendings: Arc<Pendings>,
}

impl PendingSweeper {
    /// `gone`: the unique name of a caller that left the bus.
    pub fn sweep(&self, gone: Option<&str>) {
        for e in self.pendings.sweep(gone, Instant::now()) {
            log_setups(&self.state, &e.user, &e.service, e.factors(), "abandoned");
        }
    }
}

/// Records that set-ups of `user` were not stored (`outcome`: why). Best effort: the event
/// is for the admin; a store that cannot take it has been reported already.
fn log_setups(st: &State, user: &str, service: &str, factors: Factors, outcome: &str) {
    if factors.behavior {
        let _ = st.record_event(Event::BehaviorEnrolled, user, outcome, SOURCE, service);
    }
    if factors.pin {
        let _ = st.record_event(Event::PinEnrolled, user, outcome, SOURCE, service);
    }
}

impl AuthObject {
    pub fn new(state: Arc<State>) -> AuthObject {
        AuthObject {
            state,
            pendings: Arc::new(Pendings::default()),
            recent: Recent::default(),
        }
    }

    pub fn sweeper(&self) -> PendingSweeper {
        PendingSweeper {
            state: self.state.clone(),
            pendings: self.pendings.clone(),
        }
    }

    /// Records a wrong typing (`BehaviorFailed`) or PIN (`PinFailed`) with its event, and a
    /// judged one towards the lockout (and `E_USER_LOCKED_OUT`). Returns the lock end when
    /// the user is now locked out.
    /// Only judged typings and PIN checks count, as with pam_faillock; root is exempt unless
    /// `lockout.even_deny_root` (`config::lockout_applies`).
    fn fail(&self, s: &Session, event: Event, wrong: Wrong) -> Result<Option<i64>, Error> {
        let cfg = &s.config;
        let counted = wrong != Wrong::Unjudged && config::lockout_applies(s.account.uid, cfg);
        self.state.commit(|tx, audit| {
            audit.record(tx, &s.event(event, wrong.outcome()))?;
            if !counted {
                return Ok(None);
            }
            let locked = tx.record_failure(
                &s.account.name,
                s.account.uid,
                audit.now,
                cfg.lockout.failures,
                cfg.lockout_ms(),
            )?;
            if locked.is_some() {
                audit.record(tx, &s.event(Event::LockedOut, "locked"))?;
            }
            Ok(locked)
        })
    }

    /// Records a success of this login (its event names the service, tty and host).
    fn succeeded(&self, s: &Session, event: Event) -> Result<(), Error> {
        self.state
            .commit(|tx, audit| audit.record(tx, &s.event(event, "success")))
    }

    /// A wrong typing or PIN: one try of that factor less. Always a rejection: a failure
    /// that cannot be recorded ends the login's tries instead, so a broken store never
    /// turns a wrong typing into a fall-through nor gives unlimited tries.
    fn reject(&self, s: &mut Session, event: Event, wrong: Wrong) -> VerifyStep {
        fn tries(s: &mut Session, event: Event) -> &mut u32 {
            match event {
                Event::PinFailed => &mut s.pin_tries_left,
                _ => &mut s.tries_left,
            }
        }
        let left = tries(s, event).saturating_sub(1);
        *tries(s, event) = left;
        match self.fail(s, event, wrong) {
            Ok(Some(until)) => {
                *tries(s, event) = 0;
                return exhausted(0, &locked_message(until, now_ms()));
            }
            Ok(None) => {}
            Err(_) => {
                *tries(s, event) = 0;
                return exhausted(0, "No tries left.");
            }
        }
        if left == 0 {
            return exhausted(0, "No tries left.");
        }
        VerifyStep {
            status: VerifyStatus::Rejected,
            tries_left: left,
            message: String::new(),
        }
    }

    fn locked_until(
        &self,
        account: &Account,
        config: &Config,
        now: i64,
    ) -> Result<Option<i64>, Error> {
        if !config::lockout_applies(account.uid, config) {
            return Ok(None);
        }
        let (_, until) = self
            .state
            .store
            .lockout(&account.name)
            .map_err(|e| self.state.storage(e))?;
        Ok((until > now).then_some(until))
    }

    /// A stored typing pattern or PIN of `user` that cannot be read: no factor can be judged,
    /// so the login is refused (never the fail mode, which would skip the factor), with an
    /// event; the cause is in the daemon's log.
    fn unreadable(
        &self,
        user: &str,
        service: &str,
        what: &str,
        event: Event,
        e: StoreError,
    ) -> Error {
        let why = self.state.storage(e);
        let _ = self
            .state
            .record_event(event, user, "unreadable", SOURCE, service);
        Error::Refused(format!(
            "the stored {what} of {user} cannot be read ({why}); an administrator must remove it"
        ))
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
        // Printable and bounded (64/64/255 bytes) before anything else.
        super::check_login_strings(service, tty, rhost)?;
        let st = &self.state;
        let _g = st.enter()?;
        let (caller, uid) = st.caller(&hdr).await?;
        // Everything below uses the account's own name, not the one typed: with a
        // case-insensitive NSS, `ANN` must not be a new user beside `ann`.
        let account = account(user)?;
        let name = account.name.clone();
        if uid != 0 && uid != account.uid {
            return Err(Error::AccessDenied(format!(
                "uid {uid} may not authenticate another user"
            )));
        }
        let config = st.config();
        // One look at the calling process: where it types, and (root) who started it.
        let pid = st.caller_pid(&caller).await;
        let seat = crate::locality::login_seat(
            st,
            pid,
            |l| crate::locality::decide(l, tty, rhost),
            config.deny_remote,
        )
        .await?;
        let journey = policy::resolve(
            &config,
            &Login {
                user: &name,
                groups: &account.groups,
                service,
                tty,
            },
        );
        let now = now_ms();
        if let Some(until) = self.locked_until(&account, &config, now)? {
            return Err(Error::LockedOut(format!(
                "too many failures: {name} is locked out for {}",
                remaining(until, now)
            )));
        }
        let (template, seen_template) = match template_state(st, &name, &config, now) {
            Ok(state) => state,
            // A row the journey does not use is left alone, corrupt or not.
            Err(StoreError::Corrupt { .. }) if !journey.needs_behavior() => (None, None),
            Err(e @ StoreError::Corrupt { .. }) if journey.needs_behavior() => {
                return Err(self.unreadable(
                    &name,
                    service,
                    "typing pattern",
                    Event::BehaviorFailed,
                    e,
                ))
            }
            Err(e) => return Err(st.storage(e)),
        };
        let pin_set = match st.store.pin_hash(&name) {
            Ok(pin) => pin.is_some(),
            // There is a row: not a user without a PIN, though this journey does not ask it.
            Err(StoreError::Corrupt { .. }) if !journey.needs_pin() => true,
            Err(e @ StoreError::Corrupt { .. }) if journey.needs_pin() => {
                return Err(self.unreadable(&name, service, "PIN", Event::PinFailed, e))
            }
            Err(e) => return Err(st.storage(e)),
        };

        if journey.needs_behavior()
            && template.is_none()
            && seen_template.is_some()
            && !config.enrollment.behavior
        {
            // A user who had a pattern is not let through as one who never had any.
            let _ = st.commit(|tx, audit| {
                audit.record(
                    tx,
                    &Record {
                        service,
                        tty,
                        rhost,
                        ..Record::new(Event::BehaviorFailed, &name, "expired", SOURCE)
                    },
                )
            });
            return Err(Error::Refused(format!(
                "the typing pattern of {name} expired or was enrolled for an earlier phrase, \
                 and enrollment is off: switch enrollment on for {name} to enroll again"
            )));
        }
        let Plan {
            stage,
            pin_verify,
            pin_enroll,
        } = plan(journey, template.is_some(), pin_set, &config)
            .map_err(|what| Error::NotEnrolled(format!("{name} {what}")))?;
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
            tty: tty.to_string(),
            rhost: rhost.to_string(),
            seat,
            journey,
            stage,
            params: matching::params(&config),
            template,
            seen_template,
            samples: Vec::new(),
            skipped: false,
            allow_skip,
            passed: Factors::NONE,
            tries_left: config.verify.max_tries,
            pin_verify,
            pin_enroll,
            pin_tries_left: config.verify.max_tries,
            adapted_template: None,
            new_template: None,
            new_pin: None,
            config: config.clone(),
        };
        // A root caller that a user started (setuid su, sudo) counts against that user.
        let principal = super::principal(uid, pid.and_then(super::loginuid));
        st.insert_session(
            handle,
            &caller,
            principal,
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
            Stage::Enroll => s.new_template.is_none() && !s.skipped,
            Stage::Verify => !s.passed.behavior && s.tries_left > 0,
            Stage::PinOnly | Stage::Skip => false,
        };
        if !open {
            return Err(Error::WrongStage(
                "this authentication takes no typing now".into(),
            ));
        }
        st.captures.open_on_seat(handle, st.lost_events(), &s.seat);
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
        if s.stage != Stage::Enroll || s.new_template.is_some() || s.skipped {
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
        if captured.overlapped {
            return Ok(step(EnrollStatus::Retry, OVERLAPPED, &s));
        }
        if typed.as_str() != s.config.phrase {
            return Ok(step(EnrollStatus::Mismatch, "", &s));
        }
        let sample = match matching::judge(&captured, &typed) {
            Typing::Usable(sample) => sample,
            Typing::Corrected => return Ok(step(EnrollStatus::Retry, CORRECTED, &s)),
            Typing::Mismatch => return Ok(step(EnrollStatus::Retry, KEYS_DIFFER, &s)),
            Typing::Nothing => return Ok(step(EnrollStatus::Retry, &nothing_message(st), &s)),
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
                // Should not happen after check_candidate; start over rather than keep it.
                s.samples.clear();
                return Ok(step(EnrollStatus::Retry, &why.to_string(), &s));
            }
        };
        let json = matching::to_json(&template)
            .map_err(|e| Error::Storage(format!("cannot encode the template: {e}")))?;
        // Kept on the handle: stored only once the rest of the stack authenticated the user.
        s.samples.clear();
        s.new_template = Some(json);
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
        if s.stage != Stage::Enroll || s.new_template.is_some() {
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
        if s.stage != Stage::Verify || s.passed.behavior {
            return Err(Error::WrongStage(
                "this authentication is not verifying typing".into(),
            ));
        }
        let captured = take_capture(st, handle).await?;
        let now = now_ms();
        if s.tries_left == 0 {
            return Ok(exhausted(0, "No tries left."));
        }
        if let Some(until) = self.locked_until(&s.account, &s.config, now)? {
            s.tries_left = 0;
            return Ok(exhausted(0, &locked_message(until, now)));
        }
        let retry = |message: String, s: &Session| VerifyStep {
            status: VerifyStatus::Retry,
            tries_left: s.tries_left,
            message,
        };
        if captured.overlapped {
            return Ok(retry(OVERLAPPED.into(), &s));
        }
        if typed.as_str() != s.config.phrase {
            return Ok(self.reject(&mut s, Event::BehaviorFailed, Wrong::Unjudged));
        }
        let sample = match matching::judge(&captured, &typed) {
            Typing::Usable(sample) => sample,
            Typing::Mismatch => {
                return Ok(self.reject(&mut s, Event::BehaviorFailed, Wrong::Unjudged))
            }
            Typing::Corrected => return Ok(retry(CORRECTED.into(), &s)),
            Typing::Nothing => return Ok(retry(nothing_message(st), &s)),
        };
        let Some(template) = s.template.clone() else {
            return Err(Error::WrongStage("no typing pattern to verify".into()));
        };
        let user = s.account.name.clone();
        let replay = fixed::is_replay(&template, &sample, &self.recent.of(&user));
        if let Some(timings) = fixed::timings(&sample) {
            self.recent.remember(&user, timings);
        }
        if replay {
            st.syslog.warning(&format!(
                "a typing for {} repeats the timings of a stored one: refused as a replay",
                s.account.name
            ));
            return Ok(self.reject(&mut s, Event::BehaviorFailed, Wrong::Replay));
        }
        let v = fixed::verify(&template, &sample, &s.params);
        if !v.accepted {
            return Ok(self.reject(&mut s, Event::BehaviorFailed, Wrong::Judged));
        }
        // Failures are forgiven and the template adapted at `Finish`, once every factor
        // passed: a typing that passes must not reset the count of wrong PINs.
        let mut adapted = template;
        if fixed::adapt(&mut adapted, &sample, &v, &s.params) {
            s.adapted_template = matching::to_json(&adapted).ok();
        }
        self.succeeded(&s, Event::BehaviorSucceeded)?;
        s.passed.behavior = true;
        Ok(VerifyStep {
            status: VerifyStatus::Accepted,
            tries_left: s.tries_left,
            message: String::new(),
        })
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
        if !s.pin_enroll || s.new_pin.is_some() {
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
        // Kept on the handle, like an enrolled typing pattern: setting a PIN up is not
        // passing the PIN factor.
        s.new_pin = Some(phc);
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
        if !s.pin_verify || s.passed.pin {
            return Err(Error::WrongStage(
                "this authentication does not verify a PIN".into(),
            ));
        }
        if s.pin_tries_left == 0 {
            return Ok(exhausted(0, "No tries left."));
        }
        let now = now_ms();
        let (user, service) = (s.account.name.clone(), s.service.clone());
        if let Some(until) = self.locked_until(&s.account, &s.config, now)? {
            s.pin_tries_left = 0;
            return Ok(exhausted(0, &locked_message(until, now)));
        }
        let phc = match st.store.pin_hash(&user) {
            Ok(Some(phc)) => phc,
            Ok(None) => return Err(Error::NotEnrolled(format!("{user} has no PIN"))),
            Err(e @ StoreError::Corrupt { .. }) => {
                return Err(self.unreadable(&user, &service, "PIN", Event::PinFailed, e))
            }
            Err(e) => return Err(st.storage(e)),
        };
        // A screen locker's own PIN checks (non-root) queue one at a time behind each other,
        // never in front of root's logins.
        let (_, caller_uid) = st.caller(&hdr).await?;
        let ok = match st
            .blocking_as(caller_uid, move || pin::verify(&pin, &phc))
            .await?
        {
            Ok(ok) => ok,
            Err(e) => {
                let corrupt = StoreError::Corrupt {
                    table: "pins",
                    key: user.clone(),
                    reason: e.to_string(),
                };
                return Err(self.unreadable(&user, &service, "PIN", Event::PinFailed, corrupt));
            }
        };
        if !ok {
            return Ok(self.reject(&mut s, Event::PinFailed, Wrong::Judged));
        }
        self.succeeded(&s, Event::PinSucceeded)?;
        s.passed.pin = true;
        Ok(VerifyStep {
            status: VerifyStatus::Accepted,
            tries_left: s.pin_tries_left,
            message: String::new(),
        })
    }

    async fn finish(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        handle: &str,
    ) -> Result<Outcome, Error> {
        let st = &self.state;
        let _g = st.enter()?;
        let session = st.caller_session(&hdr, handle).await?;
        let (caller, _) = st.caller(&hdr).await?;
        st.remove_session(handle);
        let s = session.lock().await;
        let judgement = s.judgement();
        let (user, uid, service) = (&s.account.name, s.account.uid, &s.service);
        if judgement == Judgement::Proven {
            // A store that cannot record this hands out no success.
            st.commit(|tx, audit| {
                tx.reset_failures(user)?;
                if let Some(json) = &s.adapted_template {
                    tx.put_template(user, uid, json, audit.now, None)?;
                }
                Ok(())
            })?;
        }
        let enrollment = Enrollment {
            user: user.clone(),
            uid,
            service: service.clone(),
            phrase: matching::phrase_digest(&s.config.phrase),
            template: s.new_template.clone(),
            seen_template: s.seen_template,
            pin: s.new_pin.clone(),
        };
        let set_up = enrollment.factors();
        let missing = s.setups_missing();
        let mut pending = false;
        if !missing.is_empty() {
            // An enrollment that did not complete keeps nothing of itself.
            log_setups(st, user, service, missing.union(set_up), "failure");
        } else if !set_up.is_empty() {
            match self
                .pendings
                .park(handle, &caller, enrollment, Instant::now())
            {
                Ok(expired) => {
                    for e in expired {
                        log_setups(st, &e.user, &e.service, e.factors(), "abandoned");
                    }
                    pending = true;
                }
                // Another login of this account has one waiting: this one keeps nothing.
                Err(Error::PolicyDenied(_)) => log_setups(st, user, service, set_up, "conflict"),
                Err(e) => {
                    log_setups(st, user, service, set_up, "failure");
                    return Err(e);
                }
            }
        }
        Ok(Outcome {
            success: judgement == Judgement::Proven,
            factors: s.passed.names().iter().map(|f| f.to_string()).collect(),
            pending,
        })
    }

    async fn commit(&self, #[zbus(header)] hdr: Header<'_>, handle: &str) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        check_len("handle", handle)?;
        let (caller, _) = st.caller(&hdr).await?;
        let e = self.pendings.take(handle, &caller, Instant::now())?;
        let stored = st.commit(|tx, audit| {
            // Insert-if-unchanged: of two first logins at once, the second stores nothing.
            let template_free =
                e.template.is_none() || tx.template_enrolled_at(&e.user)? == e.seen_template;
            let pin_free = e.pin.is_none() || !tx.has_pin(&e.user)?;
            if !(template_free && pin_free) {
                return Ok(false);
            }
            if let Some(json) = &e.template {
                tx.put_template(&e.user, e.uid, json, audit.now, Some(&e.phrase))?;
                audit.log(
                    tx,
                    Event::BehaviorEnrolled,
                    &e.user,
                    "success",
                    SOURCE,
                    &e.service,
                )?;
            }
            if let Some(phc) = &e.pin {
                tx.put_pin(&e.user, e.uid, phc, audit.now)?;
                audit.log(
                    tx,
                    Event::PinEnrolled,
                    &e.user,
                    "success",
                    SOURCE,
                    &e.service,
                )?;
            }
            Ok(true)
        });
        match stored {
            Ok(true) => Ok(()),
            Ok(false) => {
                log_setups(st, &e.user, &e.service, e.factors(), "conflict");
                Err(Error::PolicyDenied(format!(
                    "{} gained a typing pattern or PIN while this login was pending; nothing was stored",
                    e.user
                )))
            }
            Err(err) => {
                log_setups(st, &e.user, &e.service, e.factors(), "failure");
                Err(err)
            }
        }
    }

    async fn abandon(&self, #[zbus(header)] hdr: Header<'_>, handle: &str) -> Result<(), Error> {
        let st = &self.state;
        let _g = st.enter()?;
        check_len("handle", handle)?;
        let (caller, _) = st.caller(&hdr).await?;
        let e = self.pendings.take(handle, &caller, Instant::now())?;
        log_setups(st, &e.user, &e.service, e.factors(), "abandoned");
        Ok(())
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
            tty: "tty1".into(),
            rhost: String::new(),
            seat: "seat0".into(),
            journey,
            stage: Stage::Verify,
            config: Arc::new(Config::default()),
            params: Params::default(),
            template: None,
            seen_template: None,
            samples: vec![],
            skipped: false,
            allow_skip: false,
            passed: Factors::NONE,
            tries_left: 3,
            pin_verify: true,
            pin_enroll: false,
            pin_tries_left: 3,
            adapted_template: None,
            new_template: None,
            new_pin: None,
        }
    }

    #[test]
    fn only_judged_factors_prove_a_login() {
        let mut s = session(Journey::BehaviorPin);
        assert_eq!(s.judgement(), Judgement::Unproven);
        s.passed.behavior = true;
        assert_eq!(s.judgement(), Judgement::Unproven, "PIN still missing");
        s.passed.pin = true;
        assert_eq!(s.judgement(), Judgement::Proven);

        let mut s = session(Journey::Behavior);
        s.skipped = true;
        assert_eq!(
            s.judgement(),
            Judgement::Waived,
            "an allowed skip proves nothing"
        );

        // A PIN set up at login is not the PIN factor (journey `pin`).
        let mut s = session(Journey::Pin);
        s.stage = Stage::PinOnly;
        s.pin_enroll = true;
        s.new_pin = Some("$argon2id$...".into());
        assert_eq!(s.judgement(), Judgement::Waived);
        assert!(s.setups_missing().is_empty());

        // Typing passed, then a new PIN chosen after remove-pin: not proven.
        let mut s = session(Journey::BehaviorPin);
        s.passed.behavior = true;
        s.pin_enroll = true;
        s.new_pin = Some("$argon2id$...".into());
        assert_eq!(s.judgement(), Judgement::Waived);

        // An enrollment whose PIN set-up never happened is incomplete.
        let mut s = session(Journey::Behavior);
        s.stage = Stage::Enroll;
        s.pin_enroll = true;
        s.new_template = Some("{}".into());
        assert_eq!(s.setups_missing(), Factors::PIN);

        let mut s = session(Journey::Pin);
        s.passed.behavior = true;
        assert_eq!(s.judgement(), Judgement::Unproven);
        assert_eq!(session(Journey::None).judgement(), Judgement::Waived);
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
    fn handles() {
        let a = new_handle();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_handle());
    }
}
