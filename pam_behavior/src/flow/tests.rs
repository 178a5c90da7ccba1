//! The flow against one script that interleaves what the user sees and answers with what the
//! daemon is asked and replies: every step is asserted in order, and a step left unused fails
//! the test when the script is dropped.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use behavior_ipc::auth::{
    Begin, EnrollStatus, EnrollStep, Outcome, Stage, VerifyStatus, VerifyStep,
};
use behavior_ipc::Error;
use zeroize::Zeroizing;

use super::*;
use crate::args::{FailMode, RemoteMode, Settings};
use crate::messages as msg;

#[derive(Debug)]
enum S {
    Info(String),
    Error(String),
    EchoOn(String, Result<&'static str, ConvError>),
    EchoOff(String, Result<&'static str, ConvError>),
    Begin(Result<Begin, Error>),
    Capture(Result<(), Error>),
    SubmitEnroll(&'static str, Result<EnrollStep, Error>),
    Skip(Result<(), Error>),
    SubmitVerify(&'static str, Result<VerifyStep, Error>),
    EnrollPin(&'static str, Result<(), Error>),
    VerifyPin(&'static str, Result<VerifyStep, Error>),
    Finish(Result<Outcome, Error>),
    Abandon(Result<(), Error>),
}

#[derive(Default)]
struct Script {
    steps: VecDeque<S>,
    /// Everything the user typed, to check that none of it reaches the log.
    secrets: Vec<&'static str>,
}

impl Drop for Script {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.steps.is_empty(),
                "unused script steps: {:?}",
                self.steps
            );
        }
    }
}

#[derive(Clone)]
struct Shared(Rc<RefCell<Script>>);

impl Shared {
    fn next(&self, what: &str) -> S {
        match self.0.borrow_mut().steps.pop_front() {
            Some(step) => step,
            None => panic!("the script ended but the module did: {what}"),
        }
    }
}

fn secret(text: &'static str) -> Zeroizing<String> {
    Zeroizing::new(text.to_string())
}

impl Conversation for Shared {
    fn prompt_echo_on(&mut self, prompt: &str) -> Result<Zeroizing<String>, ConvError> {
        match self.next(&format!("prompt (echo on) {prompt:?}")) {
            S::EchoOn(expected, answer) => {
                assert_eq!(prompt, expected);
                answer.map(secret)
            }
            other => panic!("expected {other:?}, the module prompted (echo on) {prompt:?}"),
        }
    }
    fn prompt_echo_off(&mut self, prompt: &str) -> Result<Zeroizing<String>, ConvError> {
        match self.next(&format!("prompt (echo off) {prompt:?}")) {
            S::EchoOff(expected, answer) => {
                assert_eq!(prompt, expected);
                answer.map(secret)
            }
            other => panic!("expected {other:?}, the module prompted (echo off) {prompt:?}"),
        }
    }
    fn info(&mut self, text: &str) {
        match self.next(&format!("info {text:?}")) {
            S::Info(expected) => assert_eq!(text, expected),
            other => panic!("expected {other:?}, the module showed info {text:?}"),
        }
    }
    fn error(&mut self, text: &str) {
        match self.next(&format!("error {text:?}")) {
            S::Error(expected) => assert_eq!(text, expected),
            other => panic!("expected {other:?}, the module showed error {text:?}"),
        }
    }
}

const HANDLE: &str = "handle-1";

impl DaemonClient for Shared {
    fn begin(&mut self, user: &str, service: &str, tty: &str, rhost: &str) -> Result<Begin, Error> {
        assert_eq!(
            (user, service, tty, rhost),
            ("alice", "login", "/dev/tty1", "")
        );
        match self.next("Begin") {
            S::Begin(reply) => reply,
            other => panic!("expected {other:?}, the module called Begin"),
        }
    }
    fn open_capture(&mut self, handle: &str) -> Result<(), Error> {
        assert_eq!(handle, HANDLE);
        match self.next("OpenCapture") {
            S::Capture(reply) => reply,
            other => panic!("expected {other:?}, the module called OpenCapture"),
        }
    }
    fn submit_enrollment(&mut self, handle: &str, typed: &str) -> Result<EnrollStep, Error> {
        assert_eq!(handle, HANDLE);
        match self.next("SubmitEnrollment") {
            S::SubmitEnroll(expected, reply) => {
                assert_eq!(typed, expected);
                reply
            }
            other => panic!("expected {other:?}, the module called SubmitEnrollment"),
        }
    }
    fn skip_enrollment(&mut self, handle: &str) -> Result<(), Error> {
        assert_eq!(handle, HANDLE);
        match self.next("SkipEnrollment") {
            S::Skip(reply) => reply,
            other => panic!("expected {other:?}, the module called SkipEnrollment"),
        }
    }
    fn submit_verification(&mut self, handle: &str, typed: &str) -> Result<VerifyStep, Error> {
        assert_eq!(handle, HANDLE);
        match self.next("SubmitVerification") {
            S::SubmitVerify(expected, reply) => {
                assert_eq!(typed, expected);
                reply
            }
            other => panic!("expected {other:?}, the module called SubmitVerification"),
        }
    }
    fn enroll_pin(&mut self, handle: &str, pin: &str) -> Result<(), Error> {
        assert_eq!(handle, HANDLE);
        match self.next("EnrollPin") {
            S::EnrollPin(expected, reply) => {
                assert_eq!(pin, expected);
                reply
            }
            other => panic!("expected {other:?}, the module called EnrollPin"),
        }
    }
    fn verify_pin(&mut self, handle: &str, pin: &str) -> Result<VerifyStep, Error> {
        assert_eq!(handle, HANDLE);
        match self.next("VerifyPin") {
            S::VerifyPin(expected, reply) => {
                assert_eq!(pin, expected);
                reply
            }
            other => panic!("expected {other:?}, the module called VerifyPin"),
        }
    }
    fn finish(&mut self, handle: &str) -> Result<Outcome, Error> {
        assert_eq!(handle, HANDLE);
        match self.next("Finish") {
            S::Finish(reply) => reply,
            other => panic!("expected {other:?}, the module called Finish"),
        }
    }
    fn commit(&mut self, _: &str) -> Result<(), Error> {
        panic!("the flow never commits: a later PAM hook does");
    }
    fn abandon(&mut self, handle: &str) -> Result<(), Error> {
        assert_eq!(handle, HANDLE);
        match self.next("Abandon") {
            S::Abandon(reply) => reply,
            other => panic!("expected {other:?}, the module called Abandon"),
        }
    }
}

struct Lines(Vec<String>);

impl Log for Lines {
    fn log(&mut self, line: &str) {
        self.0.push(line.to_string());
    }
    fn notice(&mut self, line: &str) {
        self.0.push(format!("NOTICE {line}"));
    }
}

const PHRASE: &str = "correct horse battery";

fn begin(journey: &str, stage: Stage) -> Begin {
    Begin {
        handle: HANDLE.into(),
        journey: journey.into(),
        stage,
        phrase: if stage == Stage::PinOnly {
            String::new()
        } else {
            PHRASE.into()
        },
        enroll_attempts: 3,
        max_tries: 3,
        pin_verify: journey.contains("pin"),
        pin_enroll: false,
        pin_length: 4,
        allow_skip: false,
        timeout_secs: 120,
    }
}

fn verify_step(status: VerifyStatus, tries_left: u32, message: &str) -> Result<VerifyStep, Error> {
    Ok(VerifyStep {
        status,
        tries_left,
        message: message.into(),
    })
}

fn enroll_step(status: EnrollStatus, attempt: u32) -> Result<EnrollStep, Error> {
    Ok(EnrollStep {
        status,
        attempt,
        attempts: 3,
        message: String::new(),
    })
}

fn outcome(success: bool, factors: &[&str]) -> Result<Outcome, Error> {
    Ok(Outcome {
        success,
        factors: factors.iter().map(|f| f.to_string()).collect(),
        pending: false,
    })
}

/// `Finish` of a login that set something up: nothing proven, the set-up pending.
fn pending_outcome() -> Result<Outcome, Error> {
    Ok(Outcome {
        success: false,
        factors: vec![],
        pending: true,
    })
}

fn prompt() -> String {
    format!("Type the phrase: {PHRASE}\nPhrase: ")
}

fn typed(answer: &'static str) -> S {
    S::EchoOn(prompt(), Ok(answer))
}

fn pin(prompt: &str, answer: &'static str) -> S {
    S::EchoOff(prompt.into(), Ok(answer))
}

fn err(text: &str) -> S {
    S::Error(text.into())
}

fn info(text: &str) -> S {
    S::Info(text.into())
}

fn down() -> Error {
    Error::ZBus(zbus::Error::InputOutput(std::sync::Arc::new(
        std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
    )))
}

fn local() -> Login<'static> {
    Login {
        user: "alice",
        service: "login",
        tty: "/dev/tty1",
        rhost: "",
        items_unreadable: false,
    }
}

/// Runs the flow through `steps`; returns the code and the log, which must not contain
/// anything the user typed.
fn run_with(settings: &Settings, login: &Login<'_>, steps: Vec<S>) -> (Verdict, Vec<String>) {
    let mut secrets = Vec::new();
    for step in &steps {
        match step {
            S::EchoOn(_, Ok(a)) | S::EchoOff(_, Ok(a)) if !a.is_empty() => secrets.push(*a),
            _ => {}
        }
    }
    let shared = Shared(Rc::new(RefCell::new(Script {
        steps: steps.into(),
        secrets,
    })));
    let mut log = Lines(Vec::new());
    let verdict = authenticate(
        &mut shared.clone(),
        &mut shared.clone(),
        &mut log,
        settings,
        login,
    );
    for line in &log.0 {
        for s in &shared.0.borrow().secrets {
            assert!(
                !line.contains(s),
                "log line {line:?} contains typed text {s:?}"
            );
        }
    }
    (verdict, log.0)
}

fn run(steps: Vec<S>) -> Code {
    run_with(&Settings::default(), &local(), steps).0.code
}

fn closed() -> Settings {
    Settings {
        fail: FailMode::Closed,
        ..Settings::default()
    }
}

#[test]
fn verify_with_pattern_and_pin_succeeds_only_after_both_and_the_daemon_agree() {
    let code = run(vec![
        S::Begin(Ok(begin("behavior+pin", Stage::Verify))),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(PHRASE, verify_step(VerifyStatus::Accepted, 3, "")),
        pin("PIN: ", "4821"),
        S::VerifyPin("4821", verify_step(VerifyStatus::Accepted, 3, "")),
        S::Finish(outcome(true, &["behavior", "pin"])),
    ]);
    assert_eq!(code, Code::Success);
}

#[test]
fn an_incorrect_pattern_is_retried_with_the_seed_message() {
    let code = run(vec![
        S::Begin(Ok(begin("behavior", Stage::Verify))),
        S::Capture(Ok(())),
        typed("correct horse batery"),
        S::SubmitVerify(
            "correct horse batery",
            verify_step(VerifyStatus::Rejected, 2, ""),
        ),
        err("Incorrect pattern. Please try again."),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(PHRASE, verify_step(VerifyStatus::Accepted, 2, "")),
        S::Finish(outcome(true, &["behavior"])),
    ]);
    assert_eq!(code, Code::Success);
}

#[test]
fn max_tries_of_rejected_patterns_give_maxtries_and_release_the_handle() {
    let mut steps = vec![S::Begin(Ok(begin("behavior+pin", Stage::Verify)))];
    for left in [2, 1] {
        steps.push(S::Capture(Ok(())));
        steps.push(typed("impostor"));
        steps.push(S::SubmitVerify(
            "impostor",
            verify_step(VerifyStatus::Rejected, left, ""),
        ));
        steps.push(err(msg::INCORRECT_PATTERN));
    }
    steps.push(S::Capture(Ok(())));
    steps.push(typed("impostor"));
    steps.push(S::SubmitVerify(
        "impostor",
        verify_step(VerifyStatus::Rejected, 0, ""),
    ));
    steps.push(S::Finish(outcome(false, &[])));
    assert_eq!(run(steps), Code::MaxTries);
}

#[test]
fn the_module_max_tries_caps_the_daemon_s() {
    let settings = Settings {
        max_tries: Some(1),
        ..Settings::default()
    };
    let (Verdict { code, .. }, _) = run_with(
        &settings,
        &local(),
        vec![
            S::Begin(Ok(begin("behavior", Stage::Verify))),
            S::Capture(Ok(())),
            typed("impostor"),
            S::SubmitVerify("impostor", verify_step(VerifyStatus::Rejected, 2, "")),
            S::Finish(outcome(false, &[])),
        ],
    );
    assert_eq!(code, Code::MaxTries);
}

#[test]
fn a_wrong_pin_is_retried_then_exhausted_shows_the_daemon_s_sentence() {
    let code = run(vec![
        S::Begin(Ok(begin("behavior+pin", Stage::Verify))),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(PHRASE, verify_step(VerifyStatus::Accepted, 3, "")),
        pin("PIN: ", "0000"),
        S::VerifyPin("0000", verify_step(VerifyStatus::Rejected, 2, "")),
        err("Incorrect PIN. Please try again."),
        pin("PIN: ", "1111"),
        S::VerifyPin(
            "1111",
            verify_step(VerifyStatus::Exhausted, 0, "Locked out until 09:30."),
        ),
        err("Locked out until 09:30."),
        S::Finish(outcome(false, &["behavior"])),
    ]);
    assert_eq!(code, Code::MaxTries);
}

#[test]
fn retries_are_not_counted_but_bounded() {
    let mut steps = vec![S::Begin(Ok(begin("behavior", Stage::Verify)))];
    // max_tries 3 → at most 2*3+3 = 9 prompts.
    for _ in 0..9 {
        steps.push(S::Capture(Ok(())));
        steps.push(typed(PHRASE));
        steps.push(S::SubmitVerify(
            PHRASE,
            verify_step(VerifyStatus::Retry, 3, ""),
        ));
        steps.push(err(msg::TYPE_AGAIN));
    }
    steps.push(S::Finish(outcome(false, &[])));
    assert_eq!(run(steps), Code::MaxTries);
}

#[test]
fn a_retry_sentence_from_the_daemon_is_shown() {
    let code = run(vec![
        S::Begin(Ok(begin("behavior", Stage::Verify))),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(
            PHRASE,
            verify_step(VerifyStatus::Retry, 3, "No key presses were seen."),
        ),
        err("No key presses were seen."),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(PHRASE, verify_step(VerifyStatus::Accepted, 3, "")),
        S::Finish(outcome(true, &["behavior"])),
    ]);
    assert_eq!(code, Code::Success);
}

#[test]
fn the_daemon_s_failure_verdict_wins_over_the_module_s_flow() {
    let code = run(vec![
        S::Begin(Ok(begin("behavior", Stage::Verify))),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(PHRASE, verify_step(VerifyStatus::Accepted, 3, "")),
        S::Finish(outcome(false, &["behavior"])),
    ]);
    assert_eq!(code, Code::AuthErr);
}

#[test]
fn a_daemon_verdict_missing_a_required_factor_is_refused() {
    let code = run(vec![
        S::Begin(Ok(begin("behavior+pin", Stage::Verify))),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(PHRASE, verify_step(VerifyStatus::Accepted, 3, "")),
        pin("PIN: ", "4821"),
        S::VerifyPin("4821", verify_step(VerifyStatus::Accepted, 3, "")),
        S::Finish(outcome(true, &["behavior"])),
    ]);
    assert_eq!(code, Code::AuthErr);
}

#[test]
fn a_journey_that_cannot_ask_for_a_required_factor_is_refused_before_any_prompt() {
    // The journey says behavior+pin but the daemon plans no PIN step.
    let mut b = begin("behavior+pin", Stage::Verify);
    b.pin_verify = false;
    assert_eq!(
        run(vec![S::Begin(Ok(b)), S::Finish(outcome(false, &[]))]),
        Code::AuthErr
    );

    // factors=pin on the module while the policy only asks for the pattern.
    let settings = Settings {
        factors: Factors::PIN,
        ..Settings::default()
    };
    let (Verdict { code, .. }, log) = run_with(
        &settings,
        &local(),
        vec![
            S::Begin(Ok(begin("behavior", Stage::Verify))),
            S::Finish(outcome(false, &[])),
        ],
    );
    assert_eq!(code, Code::AuthErr);
    assert!(
        log.iter()
            .any(|l| l.contains("factors [\"pin\"] are required")),
        "{log:?}"
    );
}

#[test]
fn an_unknown_journey_is_refused() {
    assert_eq!(
        run(vec![
            S::Begin(Ok(begin("face+pin", Stage::Verify))),
            S::Finish(outcome(false, &[]))
        ]),
        Code::AuthErr
    );
}

#[test]
fn the_skip_stage_is_ignored_unless_the_module_requires_factors() {
    assert_eq!(
        run(vec![
            S::Begin(Ok(begin("none", Stage::Skip))),
            S::Finish(outcome(true, &[]))
        ]),
        Code::Ignore
    );
    let settings = Settings {
        factors: Factors::BEHAVIOR,
        ..Settings::default()
    };
    let (Verdict { code, .. }, _) = run_with(
        &settings,
        &local(),
        vec![
            S::Begin(Ok(begin("none", Stage::Skip))),
            S::Finish(outcome(true, &[])),
        ],
    );
    assert_eq!(code, Code::AuthErr);
}

#[test]
fn a_none_journey_that_asks_nothing_never_succeeds() {
    // Stage PinOnly without any PIN step and journey none: nothing was verified, so the
    // rest of the stack decides, whatever the daemon claims.
    let mut b = begin("none", Stage::PinOnly);
    b.pin_verify = false;
    assert_eq!(
        run(vec![S::Begin(Ok(b)), S::Finish(outcome(true, &["pin"]))]),
        Code::Ignore
    );
}

#[test]
fn pin_only_journey_asks_only_the_pin() {
    let code = run(vec![
        S::Begin(Ok(begin("pin", Stage::PinOnly))),
        pin("PIN: ", "4821"),
        S::VerifyPin("4821", verify_step(VerifyStatus::Accepted, 3, "")),
        S::Finish(outcome(true, &["pin"])),
    ]);
    assert_eq!(code, Code::Success);
}

#[test]
fn an_absent_daemon_falls_through_or_fails_closed_with_the_seed_message() {
    let steps = || {
        vec![
            S::Begin(Err(down())),
            err("Unauthorized. Failed to fetch typing phrase."),
        ]
    };
    assert_eq!(run(steps()), Code::AuthInfoUnavail);
    assert_eq!(run_with(&closed(), &local(), steps()).0.code, Code::AuthErr);
}

#[test]
fn a_daemon_dying_mid_login_is_not_waited_for_again() {
    // No Finish after a transport error: it would only wait for the timeout once more.
    let steps = || {
        vec![
            S::Begin(Ok(begin("behavior", Stage::Verify))),
            S::Capture(Ok(())),
            typed(PHRASE),
            S::SubmitVerify(PHRASE, Err(down())),
        ]
    };
    assert_eq!(run(steps()), Code::AuthInfoUnavail);
    assert_eq!(run_with(&closed(), &local(), steps()).0.code, Code::AuthErr);
    // A failing Finish is a failure too.
    let code = run(vec![
        S::Begin(Ok(begin("behavior", Stage::Verify))),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(PHRASE, verify_step(VerifyStatus::Accepted, 3, "")),
        S::Finish(Err(down())),
    ]);
    assert_eq!(code, Code::AuthInfoUnavail);
}

#[test]
fn daemon_errors_map_to_their_documented_codes() {
    let begin_error = |e: Error, shown: Vec<S>| {
        let mut steps = vec![S::Begin(Err(e))];
        steps.extend(shown);
        run(steps)
    };
    assert_eq!(
        begin_error(Error::UnknownUser("no such user".into()), vec![]),
        Code::UserUnknown
    );
    assert_eq!(
        begin_error(
            Error::LockedOut("Locked out until 09:30.".into()),
            vec![err("Locked out until 09:30.")]
        ),
        Code::MaxTries
    );
    assert_eq!(
        begin_error(Error::NotEnrolled("none".into()), vec![]),
        Code::AuthInfoUnavail
    );
    assert_eq!(
        begin_error(
            Error::PolicyDenied("Remote logins are denied.".into()),
            vec![err("Remote logins are denied.")]
        ),
        Code::AuthErr
    );
    assert_eq!(
        begin_error(
            Error::Unavailable("no keyboard".into()),
            vec![err(msg::FETCH_FAILED)]
        ),
        Code::AuthInfoUnavail
    );
    // The daemon answered: a refusal, never the fail mode.
    assert_eq!(
        begin_error(Error::AccessDenied("not root".into()), vec![]),
        Code::AuthErr
    );
    assert_eq!(
        begin_error(
            Error::Refused("template unreadable".into()),
            vec![err(msg::REFUSED)]
        ),
        Code::AuthErr
    );
    assert_eq!(
        begin_error(Error::InvalidArgument("user".into()), vec![]),
        Code::AuthErr
    );
}

#[test]
fn a_stale_handle_mid_login_fails() {
    let code = run(vec![
        S::Begin(Ok(begin("behavior", Stage::Verify))),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(PHRASE, Err(Error::NoSuchHandle("expired".into()))),
        S::Finish(Err(Error::NoSuchHandle("expired".into()))),
    ]);
    assert_eq!(code, Code::AuthErr);
}

#[test]
fn an_unusable_begin_reply_is_refused() {
    let mut b = begin("behavior", Stage::Verify);
    b.handle = String::new();
    assert_eq!(run(vec![S::Begin(Ok(b))]), Code::AuthErr);
    let mut b = begin("behavior", Stage::Verify);
    b.phrase = String::new();
    assert_eq!(
        run(vec![
            S::Begin(Ok(b)),
            err(msg::FETCH_FAILED),
            S::Finish(outcome(false, &[]))
        ]),
        Code::AuthErr
    );
}

#[test]
fn a_failing_conversation_stops_the_login() {
    let code = run(vec![
        S::Begin(Ok(begin("behavior", Stage::Verify))),
        S::Capture(Ok(())),
        S::EchoOn(prompt(), Err(ConvError)),
        S::Finish(outcome(false, &[])),
    ]);
    assert_eq!(code, Code::ConvErr);
}

#[test]
fn remote_logins_never_reach_the_daemon() {
    let remote = Login {
        rhost: "192.0.2.1",
        ..local()
    };
    assert_eq!(
        run_with(&Settings::default(), &remote, vec![]).0.code,
        Code::AuthInfoUnavail
    );
    let deny = Settings {
        remote: RemoteMode::Deny,
        ..Settings::default()
    };
    assert_eq!(run_with(&deny, &remote, vec![]).0.code, Code::AuthErr);
    // PAM_TTY or PAM_RHOST that is not UTF-8: where the login comes from is unknown.
    let unreadable = Login {
        items_unreadable: true,
        ..local()
    };
    assert_eq!(
        run_with(&Settings::default(), &unreadable, vec![]).0.code,
        Code::AuthInfoUnavail
    );
    assert_eq!(run_with(&deny, &unreadable, vec![]).0.code, Code::AuthErr);
}

#[test]
fn the_daemon_s_remote_verdict_follows_the_remote_setting() {
    let steps = || vec![S::Begin(Err(Error::Remote("no local seat".into())))];
    assert_eq!(run(steps()), Code::AuthInfoUnavail);
    let deny = Settings {
        remote: RemoteMode::Deny,
        ..Settings::default()
    };
    assert_eq!(run_with(&deny, &local(), steps()).0.code, Code::AuthErr);
}

fn enroll_begin() -> Begin {
    let mut b = begin("behavior+pin", Stage::Enroll);
    b.pin_verify = false;
    b.pin_enroll = true;
    b
}

#[test]
fn enrollment_of_pattern_and_pin_with_every_message() {
    let code = run(vec![
        S::Begin(Ok(enroll_begin())),
        info("A typing pattern is displayed. Type the phrase exactly as shown."),
        info("Attempt 1 of 3"),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitEnroll(PHRASE, enroll_step(EnrollStatus::Accepted, 2)),
        info("Attempt 2 of 3"),
        S::Capture(Ok(())),
        typed("correct horse"),
        S::SubmitEnroll("correct horse", enroll_step(EnrollStatus::Mismatch, 2)),
        err("Typed phrases do not match."),
        info("Attempt 2 of 3"),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitEnroll(PHRASE, enroll_step(EnrollStatus::Accepted, 3)),
        info("Attempt 3 of 3"),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitEnroll(PHRASE, enroll_step(EnrollStatus::Complete, 3)),
        info("Typing pattern registered."),
        pin("Set up PIN: ", "12"),
        err("The PIN must be exactly 4 characters long. Please try again."),
        pin("Set up PIN: ", "4821"),
        pin("Re-enter PIN: ", "4812"),
        err("The two PINs do not match. Please try again."),
        pin("Set up PIN: ", "4821"),
        pin("Re-enter PIN: ", "4821"),
        S::EnrollPin("4821", Ok(())),
        info("PIN registered."),
        // Even a daemon claiming both factors does not make an enrollment a login: whoever
        // enrolls first would own the account, so the rest of the stack decides.
        S::Finish(outcome(true, &["behavior", "pin"])),
    ]);
    assert_eq!(code, Code::Ignore);
}

#[test]
fn enrollment_can_be_skipped_with_an_empty_line_where_allowed() {
    let mut b = enroll_begin();
    b.allow_skip = true;
    let code = run(vec![
        S::Begin(Ok(b)),
        info(msg::ENROLL_INTRO),
        info("To skip enrollment and log in without it, press Enter on an empty line."),
        info("Attempt 1 of 3"),
        S::Capture(Ok(())),
        typed(""),
        S::Skip(Ok(())),
        info("Enrollment skipped."),
        // The PIN set-up is skipped with it.
        S::Finish(outcome(false, &[])),
    ]);
    assert_eq!(code, Code::Ignore);
}

#[test]
fn an_empty_line_is_an_ordinary_typing_where_skipping_is_not_allowed() {
    let code = run(vec![
        S::Begin(Ok(enroll_begin())),
        info(msg::ENROLL_INTRO),
        info("Attempt 1 of 3"),
        S::Capture(Ok(())),
        typed(""),
        S::SubmitEnroll("", enroll_step(EnrollStatus::Mismatch, 1)),
        err(msg::PHRASE_MISMATCH),
        info("Attempt 1 of 3"),
        S::Capture(Ok(())),
        S::EchoOn(prompt(), Err(ConvError)),
        S::Finish(outcome(false, &[])),
    ]);
    assert_eq!(code, Code::ConvErr);
}

#[test]
fn storing_the_pattern_or_the_pin_failing_shows_the_seed_messages() {
    let code = run(vec![
        S::Begin(Ok(enroll_begin())),
        info(msg::ENROLL_INTRO),
        info("Attempt 1 of 3"),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitEnroll(PHRASE, Err(Error::Storage("disk full".into()))),
        err("Unauthorized. Failed to register typing pattern."),
        S::Finish(outcome(false, &[])),
    ]);
    assert_eq!(code, Code::AuthInfoUnavail);

    let mut b = begin("pin", Stage::PinOnly);
    b.pin_verify = false;
    b.pin_enroll = true;
    let (Verdict { code, .. }, _) = run_with(
        &closed(),
        &local(),
        vec![
            S::Begin(Ok(b)),
            pin("Set up PIN: ", "4821"),
            pin("Re-enter PIN: ", "4821"),
            S::EnrollPin("4821", Err(Error::Storage("disk full".into()))),
            err("Unauthorized. Failed to register user pin."),
            S::Finish(outcome(false, &[])),
        ],
    );
    assert_eq!(code, Code::AuthErr);
}

#[test]
fn the_daemon_s_pin_rule_is_shown_and_the_pin_asked_again() {
    let mut b = begin("pin", Stage::PinOnly);
    b.pin_verify = false;
    b.pin_enroll = true;
    let code = run(vec![
        S::Begin(Ok(b)),
        pin("Set up PIN: ", "abcd"),
        pin("Re-enter PIN: ", "abcd"),
        S::EnrollPin(
            "abcd",
            Err(Error::InvalidArgument("A PIN has digits only.".into())),
        ),
        err("A PIN has digits only."),
        pin("Set up PIN: ", "4821"),
        pin("Re-enter PIN: ", "4821"),
        S::EnrollPin("4821", Ok(())),
        info(msg::PIN_REGISTERED),
        // Even a daemon claiming the PIN factor: setting a PIN up is not passing it.
        S::Finish(outcome(true, &["pin"])),
    ]);
    assert_eq!(code, Code::Ignore);
}

#[test]
fn repeated_enrollment_mismatches_end_with_maxtries() {
    let settings = Settings {
        max_tries: Some(2),
        ..Settings::default()
    };
    let mut steps = vec![S::Begin(Ok(enroll_begin())), info(msg::ENROLL_INTRO)];
    for _ in 0..2 {
        steps.push(info("Attempt 1 of 3"));
        steps.push(S::Capture(Ok(())));
        steps.push(typed("nope"));
        steps.push(S::SubmitEnroll(
            "nope",
            enroll_step(EnrollStatus::Mismatch, 1),
        ));
        steps.push(err(msg::PHRASE_MISMATCH));
    }
    steps.push(err(msg::ENROLL_GAVE_UP));
    steps.push(S::Finish(outcome(false, &[])));
    assert_eq!(run_with(&settings, &local(), steps).0.code, Code::MaxTries);
}

#[test]
fn scattered_enrollment_mismatches_do_not_end_it() {
    let settings = Settings {
        max_tries: Some(2),
        ..Settings::default()
    };
    let mut b = enroll_begin();
    b.pin_enroll = false;
    b.journey = "behavior".into();
    let mut steps = vec![S::Begin(Ok(b)), info(msg::ENROLL_INTRO)];
    for (k, next) in [(1, 2), (2, 3)] {
        steps.push(info(&format!("Attempt {k} of 3")));
        steps.push(S::Capture(Ok(())));
        steps.push(typed("nope"));
        steps.push(S::SubmitEnroll(
            "nope",
            enroll_step(EnrollStatus::Mismatch, k),
        ));
        steps.push(err(msg::PHRASE_MISMATCH));
        steps.push(info(&format!("Attempt {k} of 3")));
        steps.push(S::Capture(Ok(())));
        steps.push(typed(PHRASE));
        steps.push(S::SubmitEnroll(
            PHRASE,
            enroll_step(EnrollStatus::Accepted, next),
        ));
    }
    steps.extend([
        info("Attempt 3 of 3"),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitEnroll(PHRASE, enroll_step(EnrollStatus::Complete, 3)),
        info(msg::PATTERN_REGISTERED),
        S::Finish(outcome(true, &[])),
    ]);
    assert_eq!(run_with(&settings, &local(), steps).0.code, Code::Ignore);
}

/// Journey `pin` for a user without one, PIN enrollment on.
fn pin_setup_begin() -> Begin {
    let mut b = begin("pin", Stage::PinOnly);
    b.pin_verify = false;
    b.pin_enroll = true;
    b
}

#[test]
fn an_enrollment_is_left_pending_for_the_rest_of_the_stack() {
    let (verdict, _) = run_with(
        &Settings::default(),
        &local(),
        vec![
            S::Begin(Ok(pin_setup_begin())),
            pin("Set up PIN: ", "4821"),
            pin("Re-enter PIN: ", "4821"),
            S::EnrollPin("4821", Ok(())),
            info(msg::PIN_REGISTERED),
            S::Finish(pending_outcome()),
        ],
    );
    assert_eq!(
        verdict,
        Verdict {
            code: Code::Ignore,
            pending: Some(HANDLE.into())
        }
    );
}

#[test]
fn what_a_refused_login_set_up_is_abandoned_at_once() {
    // factors=pin: a PIN set up here cannot stand in for it, and the set-up goes.
    let settings = Settings {
        factors: Factors::PIN,
        ..Settings::default()
    };
    let (verdict, _) = run_with(
        &settings,
        &local(),
        vec![
            S::Begin(Ok(pin_setup_begin())),
            pin("Set up PIN: ", "4821"),
            pin("Re-enter PIN: ", "4821"),
            S::EnrollPin("4821", Ok(())),
            info(msg::PIN_REGISTERED),
            S::Finish(pending_outcome()),
            S::Abandon(Ok(())),
        ],
    );
    assert_eq!(verdict.code, Code::AuthErr);
    assert_eq!(verdict.pending, None);
}

#[test]
fn a_rejection_stands_when_the_daemon_dies_after_it() {
    for settings in [Settings::default(), closed()] {
        let (verdict, _) = run_with(
            &settings,
            &local(),
            vec![
                S::Begin(Ok(begin("behavior+pin", Stage::Verify))),
                S::Capture(Ok(())),
                typed(PHRASE),
                S::SubmitVerify(PHRASE, verify_step(VerifyStatus::Accepted, 3, "")),
                pin("PIN: ", "1111"),
                S::VerifyPin("1111", verify_step(VerifyStatus::Rejected, 2, "")),
                err(msg::INCORRECT_PIN),
                pin("PIN: ", "2222"),
                S::VerifyPin("2222", Err(down())),
            ],
        );
        assert_eq!(verdict.code, Code::AuthErr, "{settings:?}");
    }
    // A wrong typing, then the store fails on the next: still refused.
    let code = run(vec![
        S::Begin(Ok(begin("behavior", Stage::Verify))),
        S::Capture(Ok(())),
        typed(PHRASE),
        S::SubmitVerify(PHRASE, verify_step(VerifyStatus::Rejected, 2, "")),
        err(msg::INCORRECT_PATTERN),
        S::Capture(Err(Error::Storage("disk full".into()))),
        err(msg::FETCH_FAILED),
        S::Finish(outcome(false, &[])),
    ]);
    assert_eq!(code, Code::AuthErr);
}
