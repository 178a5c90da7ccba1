//! The login conversation, generic over how the module talks to the user ([`Conversation`])
//! and to the daemon ([`DaemonClient`]) so that every path is unit-tested with scripts.
//!
//! The flow only collects facts: what the journey requires, what the daemon judged passed
//! or rejected in this conversation, what was only set up or skipped, and how the
//! conversation ended. `behavior_core::decision::decide` turns them into the PAM code, in
//! one place shared with the daemon's own verdict. So, on every path:
//! - [`Code::Success`] only when every factor required by the journey and by the module's
//!   `factors=` argument was judged passed in this conversation AND the daemon's `Finish`
//!   verdict says success and lists them. Setting a factor up (enrolling a typing pattern,
//!   choosing a PIN) or skipping it never passes it: such a login gets `PAM_IGNORE`, and
//!   what it set up stays pending until the rest of the stack authenticated the user.
//! - A typing or PIN judged wrong stays a rejection whatever fails after it.
//! - A daemon that cannot be reached, times out or dies gives the fail-mode code
//!   (`fail=open`: `PAM_AUTHINFO_UNAVAIL`, `fail=closed`: `PAM_AUTH_ERR`).
//! - Typed text and PINs only go to the daemon; they are never logged and are zeroed on drop.

use behavior_core::decision::{decide, Decision, End, Factors, Facts, Stop};
use behavior_ipc::auth::{
    Begin, EnrollStatus, EnrollStep, Outcome, Stage, VerifyStatus, VerifyStep,
};
use behavior_ipc::Error;
use zeroize::Zeroizing;

use crate::args::{RemoteMode, Settings};
use crate::messages as msg;
use crate::remote;

/// What `pam_sm_authenticate` returns (mapped to `PAM_*` by the C adapter).
pub type Code = Decision;

/// The application could not ask the user (`PAM_CONV_ERR`, e.g. end of input).
#[derive(Debug, PartialEq, Eq)]
pub struct ConvError;

/// The user side of the conversation.
pub trait Conversation {
    /// A prompt whose answer is shown while typed (the phrase).
    fn prompt_echo_on(&mut self, prompt: &str) -> Result<Zeroizing<String>, ConvError>;
    /// A prompt whose answer is hidden (PINs).
    fn prompt_echo_off(&mut self, prompt: &str) -> Result<Zeroizing<String>, ConvError>;
    /// An informational line; a failure to show it is not an error.
    fn info(&mut self, text: &str);
    /// An error line; a failure to show it is not an error.
    fn error(&mut self, text: &str);
}

/// `org.behaviord.Auth1`, one method per call (see `behavior_ipc::auth`). Every call must
/// return within what is left of the module's timeout.
pub trait DaemonClient {
    fn begin(&mut self, user: &str, service: &str, tty: &str, rhost: &str) -> Result<Begin, Error>;
    fn open_capture(&mut self, handle: &str) -> Result<(), Error>;
    fn submit_enrollment(&mut self, handle: &str, typed: &str) -> Result<EnrollStep, Error>;
    fn skip_enrollment(&mut self, handle: &str) -> Result<(), Error>;
    fn submit_verification(&mut self, handle: &str, typed: &str) -> Result<VerifyStep, Error>;
    fn enroll_pin(&mut self, handle: &str, pin: &str) -> Result<(), Error>;
    fn verify_pin(&mut self, handle: &str, pin: &str) -> Result<VerifyStep, Error>;
    fn finish(&mut self, handle: &str) -> Result<Outcome, Error>;
    fn commit(&mut self, handle: &str) -> Result<(), Error>;
    fn abandon(&mut self, handle: &str) -> Result<(), Error>;
}

/// Where the flow reports what it did. Never given typed text.
pub trait Log {
    /// A line for `debug` (syslog, LOG_DEBUG).
    fn log(&mut self, line: &str);
    /// A line the admin needs whether or not `debug` is on (syslog, LOG_NOTICE).
    fn notice(&mut self, line: &str);
}

/// The PAM items of this login.
#[derive(Clone, Debug, Default)]
pub struct Login<'a> {
    pub user: &'a str,
    pub service: &'a str,
    pub tty: &'a str,
    pub rhost: &'a str,
    /// `PAM_TTY` or `PAM_RHOST` was set but not UTF-8: where the login comes from is
    /// unknown, so it counts as remote.
    pub items_unreadable: bool,
}

/// What [`authenticate`] ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub code: Code,
    /// The handle under which the daemon holds what this login set up, to be committed
    /// once the rest of the stack authenticated the user (`Some` only with `Ignore` or
    /// `Success`; any other result abandons it at once).
    pub pending: Option<String>,
}

impl Verdict {
    fn done(code: Code) -> Verdict {
        Verdict {
            code,
            pending: None,
        }
    }
}

/// Runs `pam_sm_authenticate` for `login`.
pub fn authenticate(
    conv: &mut impl Conversation,
    daemon: &mut impl DaemonClient,
    log: &mut impl Log,
    settings: &Settings,
    login: &Login<'_>,
) -> Verdict {
    let deny = settings.remote == RemoteMode::Deny;
    let mut facts = Facts {
        journey: Factors::NONE,
        demanded: settings.factors,
        passed: Factors::NONE,
        rejected: Factors::NONE,
        set_up: Factors::NONE,
        skipped: Factors::NONE,
        end: End::Stopped(Stop::Protocol),
        fail: settings.fail,
    };
    if login.items_unreadable || remote::is_remote(login.rhost, login.tty) {
        log.log(&format!(
            "remote login (rhost {:?}, tty {:?}): typing timings unavailable",
            login.rhost, login.tty
        ));
        facts.end = End::Stopped(Stop::Remote { deny });
        return Verdict::done(decide(&facts));
    }
    let mut flow = Flow {
        conv,
        daemon,
        log,
        settings,
        handle: String::new(),
        daemon_gone: false,
        facts,
        pending: false,
        journey: String::new(),
    };
    flow.facts.end = match flow
        .daemon
        .begin(login.user, login.service, login.tty, login.rhost)
    {
        Ok(begin) => flow.after_begin(&begin),
        Err(e) => flow.failure("Begin", e, Some(msg::FETCH_FAILED)),
    };
    let code = decide(&flow.facts);
    flow.log.log(&format!(
        "user {:?} journey {:?}: {code:?}",
        login.user, flow.journey
    ));
    let pending = flow.pending && matches!(code, Decision::Ignore | Decision::Success);
    if flow.pending && !pending {
        // Set up in a login that failed anyway: nothing of it may stay.
        if let Err(e) = flow.daemon.abandon(&flow.handle) {
            flow.log.log(&format!("Abandon failed: {e}"));
        }
    }
    Verdict {
        code,
        pending: pending.then(|| flow.handle.clone()),
    }
}

type Step<T> = Result<T, End>;

struct Flow<'a, C, D, L> {
    conv: &'a mut C,
    daemon: &'a mut D,
    log: &'a mut L,
    settings: &'a Settings,
    handle: String,
    /// A transport error happened: do not wait for the daemon again.
    daemon_gone: bool,
    facts: Facts,
    /// `Finish` said the daemon holds what this login set up.
    pending: bool,
    /// The journey `Begin` named, for the log.
    journey: String,
}

impl<C: Conversation, D: DaemonClient, L: Log> Flow<'_, C, D, L> {
    fn after_begin(&mut self, begin: &Begin) -> End {
        if begin.handle.is_empty() || begin.handle.len() > behavior_ipc::MAX_STRING_LEN {
            self.log.log("Begin returned an unusable handle");
            return End::Stopped(Stop::Protocol);
        }
        self.handle = begin.handle.clone();
        self.journey = begin.journey.clone();
        match self.run_journey(begin) {
            Ok(outcome) => {
                self.pending = outcome.pending;
                End::Finished {
                    success: outcome.success,
                    confirmed: Factors::from_names(&outcome.factors),
                }
            }
            Err(end) => {
                if !self.daemon_gone {
                    // Release the handle; the verdict no longer matters.
                    if let Ok(outcome) = self.daemon.finish(&self.handle) {
                        self.pending = outcome.pending;
                    }
                }
                end
            }
        }
    }

    /// Everything after `Begin`: `Ok` with `Finish`'s outcome, `Err` for an early stop (the
    /// caller releases the handle).
    fn run_journey(&mut self, begin: &Begin) -> Step<Outcome> {
        self.facts.journey = journey_factors(&begin.journey).ok_or_else(|| {
            self.log.log(&format!(
                "unknown journey {:?} from the daemon",
                begin.journey
            ));
            End::Stopped(Stop::Protocol)
        })?;
        let required = self.facts.journey.union(self.facts.demanded);
        let typing = matches!(begin.stage, Stage::Verify | Stage::Enroll);
        let offered = Factors {
            behavior: typing,
            pin: begin.pin_verify || begin.pin_enroll,
        };
        if begin.stage != Stage::Skip && !offered.contains(required) {
            self.log.log(&format!(
                "factors {:?} are required but the daemon's {:?} journey does not offer them",
                required.minus(offered).names(),
                begin.journey
            ));
            return Err(End::Stopped(Stop::Protocol));
        }
        if typing && (begin.phrase.is_empty() || begin.phrase.len() > behavior_ipc::MAX_STRING_LEN)
        {
            self.log.log("the daemon sent no usable phrase");
            self.conv.error(msg::FETCH_FAILED);
            return Err(End::Stopped(Stop::Protocol));
        }

        match begin.stage {
            Stage::Verify => {
                self.verify_typing(begin)?;
                self.facts.passed.behavior = true;
            }
            Stage::Enroll => {
                if self.enroll_typing(begin)? {
                    self.facts.set_up.behavior = true;
                } else {
                    // Skipping the enrollment skips the PIN set-up with it; an existing
                    // PIN is still asked for.
                    self.facts.skipped = Factors {
                        behavior: true,
                        pin: begin.pin_enroll,
                    };
                }
            }
            Stage::PinOnly | Stage::Skip => {}
        }
        if begin.pin_enroll && !self.facts.skipped.pin {
            self.enroll_pin(begin)?;
            self.facts.set_up.pin = true;
        } else if begin.pin_verify {
            self.verify_pin(begin)?;
            self.facts.passed.pin = true;
        }
        if !self.facts.set_up.is_empty() {
            // Enrolling proves nothing about who is typing (whoever first types the
            // account's name would own it): the rest of the stack decides, and what was
            // set up is stored only if it authenticates the user.
            self.log
                .log("set up in this login: pending until the stack succeeds");
        }
        self.call("Finish", |d, h| d.finish(h), None)
    }

    fn verify_typing(&mut self, begin: &Begin) -> Step<()> {
        let tries = self.tries(begin);
        let prompt = msg::phrase_prompt(&begin.phrase);
        let mut rejected = 0;
        // `Retry` does not count as a try, but a daemon that only ever says `Retry` must
        // not keep the user here forever.
        for _ in 0..rounds(tries) {
            self.call(
                "OpenCapture",
                |d, h| d.open_capture(h),
                Some(msg::FETCH_FAILED),
            )?;
            let typed = self.ask(&prompt, true)?;
            let step = self.call(
                "SubmitVerification",
                |d, h| d.submit_verification(h, &typed),
                None,
            )?;
            drop(typed);
            let judged = self.judge(
                &step,
                Factors::BEHAVIOR,
                msg::INCORRECT_PATTERN,
                &mut rejected,
                tries,
            );
            if let Some(done) = judged {
                return done;
            }
        }
        Err(End::Stopped(Stop::TriesUsed))
    }

    fn verify_pin(&mut self, begin: &Begin) -> Step<()> {
        let tries = self.tries(begin);
        let mut rejected = 0;
        for _ in 0..rounds(tries) {
            let pin = self.ask(msg::PIN_PROMPT, false)?;
            let step = self.call("VerifyPin", |d, h| d.verify_pin(h, &pin), None)?;
            drop(pin);
            let judged = self.judge(
                &step,
                Factors::PIN,
                msg::INCORRECT_PIN,
                &mut rejected,
                tries,
            );
            if let Some(done) = judged {
                return done;
            }
        }
        Err(End::Stopped(Stop::TriesUsed))
    }

    /// What one verification step of `factor` means for its loop: `None` to ask again
    /// (after telling the user `incorrect` when it was rejected), or the loop's result.
    /// Records the verdict: the last one on a factor is what counts.
    fn judge(
        &mut self,
        step: &VerifyStep,
        factor: Factors,
        incorrect: &str,
        rejected: &mut u32,
        tries: u32,
    ) -> Option<Step<()>> {
        let name = if factor.pin { "PIN" } else { "typing" };
        match step.status {
            VerifyStatus::Accepted => {
                self.facts.rejected = self.facts.rejected.minus(factor);
                Some(Ok(()))
            }
            VerifyStatus::Rejected => {
                self.facts.rejected = self.facts.rejected.union(factor);
                *rejected += 1;
                self.log
                    .log(&format!("{name} rejected ({rejected} of {tries} tries)"));
                if *rejected >= tries || step.tries_left == 0 {
                    return Some(Err(End::Stopped(Stop::TriesUsed)));
                }
                self.conv.error(incorrect);
                None
            }
            VerifyStatus::Retry => {
                self.retry_message(&step.message);
                None
            }
            VerifyStatus::Exhausted => {
                // The daemon ends the tries after a rejection (or a lockout): it stands.
                self.facts.rejected = self.facts.rejected.union(factor);
                Some(Err(self.exhausted(&step.message)))
            }
        }
    }

    /// The typing enrollment: `Ok(true)` once the pattern is complete (pending in the
    /// daemon), `Ok(false)` when the user skipped it.
    fn enroll_typing(&mut self, begin: &Begin) -> Step<bool> {
        let tries = self.tries(begin);
        let mut attempts = begin.enroll_attempts.max(1);
        let mut attempt = 1;
        // Typings in a row that were not kept; `tries` of them end the enrollment.
        let mut misses = 0;
        let prompt = msg::phrase_prompt(&begin.phrase);
        self.conv.info(msg::ENROLL_INTRO);
        if begin.allow_skip {
            self.conv.info(msg::SKIP_HINT);
        }
        for _ in 0..attempts.saturating_add(rounds(tries)) {
            self.conv.info(&msg::attempt(attempt, attempts));
            self.call(
                "OpenCapture",
                |d, h| d.open_capture(h),
                Some(msg::FETCH_FAILED),
            )?;
            let typed = self.ask(&prompt, true)?;
            if typed.is_empty() && begin.allow_skip {
                self.call(
                    "SkipEnrollment",
                    |d, h| d.skip_enrollment(h),
                    Some(msg::REGISTER_PATTERN_FAILED),
                )?;
                self.conv.info(msg::SKIPPED);
                self.log.log("enrollment skipped by the user");
                return Ok(false);
            }
            let step = self.call(
                "SubmitEnrollment",
                |d, h| d.submit_enrollment(h, &typed),
                Some(msg::REGISTER_PATTERN_FAILED),
            )?;
            drop(typed);
            match step.status {
                EnrollStatus::Complete => {
                    self.conv.info(msg::PATTERN_REGISTERED);
                    self.log.log("typing pattern enrolled");
                    return Ok(true);
                }
                EnrollStatus::Accepted => {
                    attempts = step.attempts.max(1);
                    attempt = step.attempt.clamp(1, attempts);
                    misses = 0;
                    continue;
                }
                EnrollStatus::Mismatch => self.conv.error(msg::PHRASE_MISMATCH),
                EnrollStatus::Retry => self.retry_message(&step.message),
            }
            misses += 1;
            self.log
                .log(&format!("enrollment typing not kept ({misses} of {tries})"));
            if misses >= tries {
                self.conv.error(msg::ENROLL_GAVE_UP);
                return Err(End::Stopped(Stop::TriesUsed));
            }
        }
        self.log.log("enrollment did not complete within its bound");
        self.conv.error(msg::ENROLL_GAVE_UP);
        Err(End::Stopped(Stop::Protocol))
    }

    fn enroll_pin(&mut self, begin: &Begin) -> Step<()> {
        let tries = self.tries(begin);
        for _ in 0..tries {
            let pin = self.ask(msg::PIN_SETUP_PROMPT, false)?;
            let length = begin.pin_length;
            if length > 0 && pin.chars().count() != length as usize {
                self.conv.error(&msg::pin_length(length));
                continue;
            }
            let again = self.ask(msg::PIN_REENTER_PROMPT, false)?;
            if *pin != *again {
                self.conv.error(msg::PIN_ENTRIES_DIFFER);
                continue;
            }
            drop(again);
            match self.daemon.enroll_pin(&self.handle, &pin) {
                Ok(()) => {
                    self.conv.info(msg::PIN_REGISTERED);
                    self.log.log("PIN set up");
                    return Ok(());
                }
                // The daemon's own rule on length or characters: say it and ask again.
                Err(Error::InvalidArgument(why)) => self.conv.error(&why),
                Err(e) => return Err(self.failure("EnrollPin", e, Some(msg::REGISTER_PIN_FAILED))),
            }
        }
        self.conv.error(msg::REGISTER_PIN_FAILED);
        Err(End::Stopped(Stop::TriesUsed))
    }

    /// The smaller of the daemon's and the module's `max_tries`, at least 1.
    fn tries(&self, begin: &Begin) -> u32 {
        let daemon = begin.max_tries.max(1);
        self.settings
            .max_tries
            .map_or(daemon, |m| m.min(daemon))
            .max(1)
    }

    fn ask(&mut self, prompt: &str, echo: bool) -> Step<Zeroizing<String>> {
        let answer = if echo {
            self.conv.prompt_echo_on(prompt)
        } else {
            self.conv.prompt_echo_off(prompt)
        };
        answer.map_err(|ConvError| {
            self.log.log("the application's conversation failed");
            End::Stopped(Stop::Conversation)
        })
    }

    fn retry_message(&mut self, message: &str) {
        self.conv.error(if message.is_empty() {
            msg::TYPE_AGAIN
        } else {
            message
        });
    }

    fn exhausted(&mut self, message: &str) -> End {
        if !message.is_empty() {
            self.conv.error(message);
        }
        self.log.log("the daemon says the tries are used up");
        End::Stopped(Stop::TriesUsed)
    }

    /// One daemon call with this conversation's handle; errors become ends.
    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut D, &str) -> Result<T, Error>,
        failure_message: Option<&str>,
    ) -> Step<T> {
        f(self.daemon, &self.handle).map_err(|e| self.failure(what, e, failure_message))
    }

    /// How a daemon error ends the login (pam_behavior(8) lists the codes). Only a daemon
    /// that could not be reached, timed out or said it cannot serve is `Unreachable` (the
    /// fail mode); an answer that refuses is a refusal. `failure_message` is the seed's
    /// error-table line for this step, shown when the daemon failed.
    fn failure(&mut self, what: &str, e: Error, failure_message: Option<&str>) -> End {
        self.log.log(&format!("{what} failed: {e}"));
        match e {
            Error::ZBus(_) | Error::Unavailable(_) | Error::Storage(_) => {
                if let Error::ZBus(e) = &e {
                    self.daemon_gone = true;
                    self.log.notice(&crate::dbus::describe(e));
                }
                if let Some(text) = failure_message {
                    self.conv.error(text);
                }
                End::Unreachable
            }
            Error::Remote(_) => End::Stopped(Stop::Remote {
                deny: self.settings.remote == RemoteMode::Deny,
            }),
            Error::UnknownUser(_) => End::Stopped(Stop::UnknownUser),
            Error::NotEnrolled(why) => {
                self.log.notice(&why);
                End::Stopped(Stop::NotEnrolled)
            }
            Error::LockedOut(why) => {
                self.conv.error(&why);
                End::Stopped(Stop::TriesUsed)
            }
            Error::PolicyDenied(why) => {
                self.conv.error(&why);
                End::Stopped(Stop::Refused)
            }
            Error::Refused(why) => {
                self.log.notice(&why);
                self.conv.error(msg::REFUSED);
                End::Stopped(Stop::Refused)
            }
            Error::AccessDenied(_) => End::Stopped(Stop::Refused),
            Error::NoSuchHandle(_) | Error::WrongStage(_) | Error::InvalidArgument(_) => {
                End::Stopped(Stop::Protocol)
            }
        }
    }
}

/// Factors a journey name requires; `None` for a name this module does not know.
fn journey_factors(journey: &str) -> Option<Factors> {
    match journey {
        "behavior+pin" => Some(Factors::BOTH),
        "behavior" => Some(Factors::BEHAVIOR),
        "pin" => Some(Factors::PIN),
        "none" => Some(Factors::NONE),
        _ => None,
    }
}

/// Upper bound on prompts for `tries` counted tries plus uncounted retries.
fn rounds(tries: u32) -> u32 {
    tries.saturating_mul(2).saturating_add(3)
}

#[cfg(test)]
mod tests;
