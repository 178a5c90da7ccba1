//! The login conversation, generic over how the module talks to the user ([`Conversation`])
//! and to the daemon ([`DaemonClient`]) so that every path is unit-tested with scripts.
//!
//! Rules that hold on every path:
//! - [`Code::Success`] only when every factor required by the journey and by the module's
//!   `factors=` argument passed in this conversation AND the daemon's `Finish` verdict says
//!   success and lists them; anything else is a failure code.
//! - A daemon that cannot be reached, times out or dies gives the fail-mode code
//!   (`fail=open`: `PAM_AUTHINFO_UNAVAIL`, `fail=closed`: `PAM_AUTH_ERR`).
//! - Typed text and PINs only go to the daemon; they are never logged and are zeroed on drop.

use std::collections::BTreeSet;

use behavior_ipc::auth::{
    Begin, EnrollStatus, EnrollStep, Outcome, Stage, VerifyStatus, VerifyStep,
};
use behavior_ipc::Error;
use zeroize::Zeroizing;

use crate::args::{Factor, FailMode, RemoteMode, Settings};
use crate::messages as msg;
use crate::remote;

/// What `pam_sm_authenticate` returns (mapped to `PAM_*` by the C adapter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Success,
    AuthErr,
    MaxTries,
    AuthInfoUnavail,
    UserUnknown,
    Ignore,
    ConvErr,
}

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
/// return within the module's timeout (the D-Bus client sets it on the connection).
pub trait DaemonClient {
    fn begin(&mut self, user: &str, service: &str, tty: &str, rhost: &str) -> Result<Begin, Error>;
    fn open_capture(&mut self, handle: &str) -> Result<(), Error>;
    fn submit_enrollment(&mut self, handle: &str, typed: &str) -> Result<EnrollStep, Error>;
    fn skip_enrollment(&mut self, handle: &str) -> Result<(), Error>;
    fn submit_verification(&mut self, handle: &str, typed: &str) -> Result<VerifyStep, Error>;
    fn enroll_pin(&mut self, handle: &str, pin: &str) -> Result<(), Error>;
    fn verify_pin(&mut self, handle: &str, pin: &str) -> Result<VerifyStep, Error>;
    fn finish(&mut self, handle: &str) -> Result<Outcome, Error>;
}

/// Where the flow reports what it did (syslog when `debug`). Never given typed text.
pub trait Log {
    fn log(&mut self, line: &str);
}

/// The PAM items of this login.
#[derive(Clone, Debug, Default)]
pub struct Login<'a> {
    pub user: &'a str,
    pub service: &'a str,
    pub tty: &'a str,
    pub rhost: &'a str,
    /// The calling session sits on a local seat (see [`remote::is_remote`]).
    pub local_seat: bool,
}

/// Runs `pam_sm_authenticate` for `login`.
pub fn authenticate(
    conv: &mut impl Conversation,
    daemon: &mut impl DaemonClient,
    log: &mut impl Log,
    settings: &Settings,
    login: &Login<'_>,
) -> Code {
    if remote::is_remote(login.rhost, login.tty, login.local_seat) {
        log.log(&format!(
            "remote login (rhost {:?}, tty {:?}): typing timings unavailable",
            login.rhost, login.tty
        ));
        return match settings.remote {
            RemoteMode::FallThrough => Code::AuthInfoUnavail,
            RemoteMode::Deny => Code::AuthErr,
        };
    }
    let mut flow = Flow {
        conv,
        daemon,
        log,
        settings,
        handle: String::new(),
        daemon_gone: false,
    };
    let begin = match flow
        .daemon
        .begin(login.user, login.service, login.tty, login.rhost)
    {
        Ok(begin) => begin,
        Err(e) => return flow.failure("Begin", e, Some(msg::FETCH_FAILED)),
    };
    if begin.handle.is_empty() || begin.handle.len() > behavior_ipc::MAX_STRING_LEN {
        flow.log.log("Begin returned an unusable handle");
        return Code::AuthErr;
    }
    flow.handle = begin.handle.clone();
    let code = match flow.journey(&begin) {
        Ok(code) => code,
        Err(code) => {
            if !flow.daemon_gone {
                // Release the handle; the verdict no longer matters.
                let _ = flow.daemon.finish(&flow.handle);
            }
            code
        }
    };
    flow.log.log(&format!(
        "user {:?} journey {:?}: {code:?}",
        login.user, begin.journey
    ));
    code
}

type Step<T> = Result<T, Code>;

struct Flow<'a, C, D, L> {
    conv: &'a mut C,
    daemon: &'a mut D,
    log: &'a mut L,
    settings: &'a Settings,
    handle: String,
    /// A transport error happened: do not wait for the daemon again.
    daemon_gone: bool,
}

enum Enrolled {
    Done,
    Skipped,
}

impl<C: Conversation, D: DaemonClient, L: Log> Flow<'_, C, D, L> {
    /// Everything after `Begin`; `Ok(code)` once `Finish` was called, `Err(code)` for an
    /// early stop (the caller releases the handle).
    fn journey(&mut self, begin: &Begin) -> Step<Code> {
        let mut required = journey_factors(&begin.journey).ok_or_else(|| {
            self.log.log(&format!(
                "unknown journey {:?} from the daemon",
                begin.journey
            ));
            Code::AuthErr
        })?;
        required.extend(self.settings.factors.iter().copied());

        if begin.stage == Stage::Skip {
            if required.is_empty() {
                return Ok(self.finish_ignored());
            }
            self.log
                .log("the policy skips this login but factors= requires some: denied");
            return Err(Code::AuthErr);
        }
        let typing = matches!(begin.stage, Stage::Verify | Stage::Enroll);
        let pin = begin.pin_verify || begin.pin_enroll;
        for factor in &required {
            let offered = match factor {
                Factor::Behavior => typing,
                Factor::Pin => pin,
            };
            if !offered {
                self.log.log(&format!(
                    "factor {} is required but the daemon's {:?} journey does not offer it",
                    factor.name(),
                    begin.journey
                ));
                return Err(Code::AuthErr);
            }
        }
        if typing && (begin.phrase.is_empty() || begin.phrase.len() > behavior_ipc::MAX_STRING_LEN)
        {
            self.log.log("the daemon sent no usable phrase");
            self.conv.error(msg::FETCH_FAILED);
            return Err(Code::AuthErr);
        }

        let mut passed = BTreeSet::new();
        let mut enrolled = false;
        match begin.stage {
            Stage::Verify => {
                self.verify_typing(begin)?;
                passed.insert(Factor::Behavior);
            }
            Stage::Enroll => match self.enroll_typing(begin)? {
                Enrolled::Done => enrolled = true,
                Enrolled::Skipped => return Ok(self.finish_ignored()),
            },
            Stage::PinOnly | Stage::Skip => {}
        }
        if begin.pin_enroll {
            self.enroll_pin(begin)?;
            passed.insert(Factor::Pin);
        } else if begin.pin_verify {
            self.verify_pin(begin)?;
            passed.insert(Factor::Pin);
        }
        // Enrolling proves nothing about who is typing (whoever first types the account's
        // name would own it), so a login that enrolled is left to the rest of the stack.
        if enrolled {
            self.log
                .log("typing pattern enrolled in this login: the rest of the stack decides");
            return Ok(self.finish_ignored());
        }

        let outcome = self.call("Finish", |d, h| d.finish(h), None)?;
        let confirmed: BTreeSet<Factor> = outcome
            .factors
            .iter()
            .filter_map(|f| Factor::parse(f))
            .collect();
        if !outcome.success {
            self.log.log("the daemon's verdict is failure");
            return Ok(Code::AuthErr);
        }
        if passed.is_empty() || !required.is_subset(&passed) || !required.is_subset(&confirmed) {
            self.log.log(&format!(
                "verdict mismatch: required {required:?}, passed here {passed:?}, daemon {confirmed:?}"
            ));
            return Ok(Code::AuthErr);
        }
        Ok(Code::Success)
    }

    /// `Finish` for a login the policy or the user skipped, or that enrolled the typing:
    /// never success.
    fn finish_ignored(&mut self) -> Code {
        if let Err(e) = self.daemon.finish(&self.handle) {
            self.log.log(&format!("Finish after a skip failed: {e}"));
        }
        Code::Ignore
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
                "typing",
                msg::INCORRECT_PATTERN,
                &mut rejected,
                tries,
            );
            if let Some(done) = judged {
                return done;
            }
        }
        Err(Code::MaxTries)
    }

    fn verify_pin(&mut self, begin: &Begin) -> Step<()> {
        let tries = self.tries(begin);
        let mut rejected = 0;
        for _ in 0..rounds(tries) {
            let pin = self.ask(msg::PIN_PROMPT, false)?;
            let step = self.call("VerifyPin", |d, h| d.verify_pin(h, &pin), None)?;
            drop(pin);
            if let Some(done) = self.judge(&step, "PIN", msg::INCORRECT_PIN, &mut rejected, tries) {
                return done;
            }
        }
        Err(Code::MaxTries)
    }

    /// What one verification step (typing or PIN) means for its loop: `None` to ask again
    /// (after telling the user `incorrect` when it was rejected), or the loop's result.
    fn judge(
        &mut self,
        step: &VerifyStep,
        factor: &str,
        incorrect: &str,
        rejected: &mut u32,
        tries: u32,
    ) -> Option<Step<()>> {
        match step.status {
            VerifyStatus::Accepted => Some(Ok(())),
            VerifyStatus::Rejected => {
                *rejected += 1;
                self.log
                    .log(&format!("{factor} rejected ({rejected} of {tries} tries)"));
                if *rejected >= tries || step.tries_left == 0 {
                    return Some(Err(Code::MaxTries));
                }
                self.conv.error(incorrect);
                None
            }
            VerifyStatus::Retry => {
                self.retry_message(&step.message);
                None
            }
            VerifyStatus::Exhausted => Some(Err(self.exhausted(&step.message))),
        }
    }

    fn enroll_typing(&mut self, begin: &Begin) -> Step<Enrolled> {
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
                return Ok(Enrolled::Skipped);
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
                    return Ok(Enrolled::Done);
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
                self.conv.error(msg::REGISTER_PATTERN_FAILED);
                return Err(Code::MaxTries);
            }
        }
        self.log.log("enrollment did not complete within its bound");
        self.conv.error(msg::REGISTER_PATTERN_FAILED);
        Err(Code::AuthErr)
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
                    self.log.log("PIN enrolled");
                    return Ok(());
                }
                // The daemon's own rule on length or characters: say it and ask again.
                Err(Error::InvalidArgument(why)) => self.conv.error(&why),
                Err(e) => return Err(self.failure("EnrollPin", e, Some(msg::REGISTER_PIN_FAILED))),
            }
        }
        self.conv.error(msg::REGISTER_PIN_FAILED);
        Err(Code::MaxTries)
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
            Code::ConvErr
        })
    }

    fn retry_message(&mut self, message: &str) {
        self.conv.error(if message.is_empty() {
            msg::TYPE_AGAIN
        } else {
            message
        });
    }

    fn exhausted(&mut self, message: &str) -> Code {
        if !message.is_empty() {
            self.conv.error(message);
        }
        self.log.log("the daemon says the tries are used up");
        Code::MaxTries
    }

    /// One daemon call with this conversation's handle; errors become codes.
    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut D, &str) -> Result<T, Error>,
        failure_message: Option<&str>,
    ) -> Step<T> {
        f(self.daemon, &self.handle).map_err(|e| self.failure(what, e, failure_message))
    }

    /// Maps a daemon error to the code documented in pam_behavior(8). `failure_message` is
    /// the seed's error-table line for this step, shown when the daemon failed.
    fn failure(&mut self, what: &str, e: Error, failure_message: Option<&str>) -> Code {
        self.log.log(&format!("{what} failed: {e}"));
        let fail_code = match self.settings.fail {
            FailMode::Open => Code::AuthInfoUnavail,
            FailMode::Closed => Code::AuthErr,
        };
        match e {
            Error::ZBus(_) | Error::Unavailable(_) | Error::Storage(_) | Error::AccessDenied(_) => {
                if matches!(e, Error::ZBus(_)) {
                    self.daemon_gone = true;
                }
                if let Some(text) = failure_message {
                    self.conv.error(text);
                }
                fail_code
            }
            Error::UnknownUser(_) => Code::UserUnknown,
            Error::NotEnrolled(_) => Code::AuthInfoUnavail,
            Error::LockedOut(why) => {
                self.conv.error(&why);
                Code::MaxTries
            }
            Error::PolicyDenied(why) => {
                self.conv.error(&why);
                Code::AuthErr
            }
            Error::NoSuchHandle(_) | Error::WrongStage(_) | Error::InvalidArgument(_) => {
                Code::AuthErr
            }
        }
    }
}

/// Factors a journey name requires; `None` for a name this module does not know.
fn journey_factors(journey: &str) -> Option<BTreeSet<Factor>> {
    let factors: &[Factor] = match journey {
        "behavior+pin" => &[Factor::Behavior, Factor::Pin],
        "behavior" => &[Factor::Behavior],
        "pin" => &[Factor::Pin],
        "none" => &[],
        _ => return None,
    };
    Some(factors.iter().copied().collect())
}

/// Upper bound on prompts for `tries` counted tries plus uncounted retries.
fn rounds(tries: u32) -> u32 {
    tries.saturating_mul(2).saturating_add(3)
}

#[cfg(test)]
mod tests;
