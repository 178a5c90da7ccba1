//! Runs as root inside the test VM (`tests/vm/run.sh`, `tests/tests/vm_daemon.rs`): the whole
//! daemon capturing real kernel key events. A private `dbus-daemon` with the shipped policy,
//! the real `behaviord` (no `--test-input`) reading `/dev/input`, and real PAM logins
//! (`pam_start_confdir` with the built `libpam_behavior.so`) whose phrase prompts are
//! answered by typing on uinput keyboards with planned timings while the daemon captures.
//!
//! Cases (`VMTEST case NAME ok|FAIL: why`, then `VMTEST ALL OK`):
//! - `enroll`: a typing with a Backspace is a retry with the daemon's message; three clean
//!   typings enroll the user.
//! - `timings`: the template the daemon stored (its enrollment feature vectors, ms) equals
//!   the same features computed from the kernel timestamps a second reader of the device
//!   saw, within 1 ms. The daemon never returns key timings over D-Bus; the template is the
//!   phrase's own timings, which it is allowed to keep.
//! - `hotplug-add`, `hotplug-remove`: a second keyboard plugged in while the daemon runs
//!   is read (`behaviorctl status`, and `verify` types on it); unplugged, it is dropped.
//! - `verify`: keys from a second keyboard inside a typing whose own keys match the pattern
//!   are refused; a very different rhythm is refused; the enrolled rhythm is accepted.
//! - `virtual-ignored`: with the default `[input]` (no `allow_virtual`) the daemon sees no
//!   keys of a uinput keyboard: the typing is asked again until the tries run out.
//!
//! Figures: `VMTEST figure ...` lines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/pam_harness/mod.rs"]
mod pam_harness;

use behavior_core::features;
use behavior_core::fixed::{self, Params, Template};
use behavior_core::{Key, KeyClass, Keystroke, Sample};
use behavior_tests::typist::{
    code_of, kernel_reader, perform, Keys, Step, UinputKeyboard, KEY_F13, KEY_LEFTSHIFT,
};
use behavior_tests::{Daemon, PrivateBus};
use pam_harness::{echo_on, error, info, Login, Msg, PAM_MAXTRIES, PAM_SUCCESS};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The shipped default phrase: a dot, a digit and a Shift among its keys.
const PHRASE: &str = ".tie5Roanl";
const PROMPT: &str = "Type the phrase: .tie5Roanl\nPhrase: ";
/// An account every Debian system has (the daemon looks accounts up).
const USER: &str = "nobody";
const CORRECTED: &str =
    "The phrase was corrected while typing; please type it again without corrections.";
const NOTHING: &str = "No typing was captured from the keyboard; please type the phrase again.";
const INCORRECT_PATTERN: &str = "Incorrect pattern. Please try again.";

/// Typing-only journey (no PIN: argon2 is slow under emulation), enrollment on, no session
/// monitor (no logind in the VM); `[input]` appended per run.
const CONFIG: &str = r#"
default_journey = "behavior"
[enrollment]
behavior = true
pin = false
attempts = 3
[verify]
max_tries = 3
[lockout]
failures = 10
[session]
monitor = false
"#;

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        let ok: bool = $cond;
        if !ok {
            return Err(format!($($why)+));
        }
    };
}

// ---------------------------------------------------------------------------------------
// Planned typings (pure; unit-tested on the host below)

/// How a typist times key `i` of a typing: hold, and the gap to the next press (ms).
#[derive(Clone, Copy, Debug)]
enum Rhythm {
    /// The enrolled user; `variant` 0 is their typical typing, others vary every time by up
    /// to 12 % (enrollment typings must differ a little for a per-user threshold).
    Genuine { variant: u32 },
    /// Someone else: holds about three times as long, the pauses in another pattern.
    Other,
}

impl Rhythm {
    fn times(self, i: usize) -> (f64, f64) {
        let x = i as f64;
        match self {
            Rhythm::Genuine { variant } => {
                let v = f64::from(variant);
                let amp = if variant == 0 { 0.0 } else { 0.12 };
                let hold = (55 + i * 23 % 50) as f64 * (1.0 + amp * (1.7 * x + 2.3 * v).sin());
                let gap = (95 + i * 37 % 90) as f64 * (1.0 + amp * (1.1 * x + 0.7 + 2.9 * v).sin());
                (hold, gap)
            }
            Rhythm::Other => ((150 + i * 41 % 60) as f64, (320 - i * 37 % 90 * 2) as f64),
        }
    }
}

/// The typing of `text` on keyboard `kb` from `start_ms`; upper case letters with Left
/// Shift around them (keys overlap like real rollover).
fn plan(text: &str, rhythm: Rhythm, kb: usize, start_ms: f64) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut t = start_ms;
    for (i, c) in text.chars().enumerate() {
        let (code, shift) = code_of(c);
        let (hold, gap) = rhythm.times(i);
        let mut press = |at_ms, code, hold| {
            steps.push(Step {
                at_ms,
                kb,
                code,
                down: true,
            });
            steps.push(Step {
                at_ms: at_ms + hold,
                kb,
                code,
                down: false,
            });
        };
        if shift {
            press(t - 35.0, KEY_LEFTSHIFT, hold + 50.0);
        }
        press(t, code, hold);
        t += gap;
    }
    steps.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    steps
}

/// Pairs presses with their releases into a sample, leaving out Enter as the daemon does
/// (`behaviord::matching::judge`). Times in µs; ms from the first event in the sample, so
/// no precision is lost to the size of a wall-clock time.
fn sample_of(events: &[(u16, bool, i64)]) -> Option<Sample> {
    let origin = events.first()?.2;
    let mut keys = Vec::new();
    for (i, &(code, down, t)) in events.iter().enumerate() {
        if !down || Key(code).class() == KeyClass::Terminator {
            continue;
        }
        let up = events[i..]
            .iter()
            .find(|&&(c, d, _)| c == code && !d)
            .map(|&(_, _, u)| u)?;
        keys.push(Keystroke {
            key: Key(code),
            down: (t - origin) as f64 / 1000.0,
            up: (up - origin) as f64 / 1000.0,
        });
    }
    Sample::new(keys).ok()
}

/// The planned steps as kernel-like events (µs), for the host tests and the plan figure.
fn planned_events(steps: &[Step], kb: usize) -> Vec<(u16, bool, i64)> {
    steps
        .iter()
        .filter(|s| s.kb == kb)
        .map(|s| (s.code, s.down, (s.at_ms * 1000.0).round() as i64))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Devices

/// A uinput keyboard with a second, independent reader of its evdev node (the evdev crate
/// directly): what the kernel stamped, to compare the daemon's results with.
struct Keyboard {
    uinput: UinputKeyboard,
    kernel: mpsc::Receiver<(u16, bool, i64)>,
}

impl Keyboard {
    fn new(name: &str) -> Keyboard {
        let uinput = UinputKeyboard::new(name);
        let kernel = kernel_reader(&uinput.node);
        let mut kb = Keyboard { uinput, kernel };
        // Under emulation the first events are stamped a few ms late.
        for _ in 0..20 {
            kb.key(KEY_F13, true);
            kb.key(KEY_F13, false);
            thread::sleep(Duration::from_millis(5));
        }
        kb.kernel_events(40);
        kb
    }

    /// Key presses and releases the kernel reported since the last call: (code, down, µs).
    /// Waits (2 s at most) for the `expected` ones, then takes any more that are there.
    fn kernel_events(&self, expected: usize) -> Vec<(u16, bool, i64)> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut out = Vec::new();
        while out.len() < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.kernel.recv_timeout(left) {
                Ok(e) => out.push(e),
                Err(_) => break,
            }
        }
        while let Ok(e) = self.kernel.recv_timeout(Duration::from_millis(20)) {
            out.push(e);
        }
        out
    }
}

impl Keys for Keyboard {
    fn key(&mut self, code: u16, down: bool) {
        self.uinput.key(code, down);
    }
}

/// What one phrase prompt's typing was: the plan and what the kernel stamped per keyboard.
struct Typed {
    steps: Vec<Step>,
    /// Per keyboard plugged in at the time.
    kernel: Vec<Vec<(u16, bool, i64)>>,
}

/// Types `steps` when a phrase prompt comes, in order; records what the kernel saw.
struct Typist {
    kbs: Vec<Keyboard>,
    script: VecDeque<Vec<Step>>,
    typed: Vec<Typed>,
    prompts: usize,
}

impl Typist {
    fn new(kbs: Vec<Keyboard>) -> Typist {
        Typist {
            kbs,
            script: VecDeque::new(),
            typed: Vec::new(),
            prompts: 0,
        }
    }

    /// Called at each prompt: the user types (an exhausted script answers without typing).
    fn on_prompt(&mut self, prompt: &str) {
        if !prompt.starts_with("Type the phrase: ") {
            return;
        }
        self.prompts += 1;
        let Some(steps) = self.script.pop_front() else {
            return;
        };
        let _ = perform(&mut self.kbs, &steps);
        let kernel = (self.kbs.iter().enumerate())
            .map(|(i, kb)| kb.kernel_events(steps.iter().filter(|s| s.kb == i).count()))
            .collect();
        self.typed.push(Typed { steps, kernel });
    }
}

/// A real PAM login of `USER` through the built module, the typist typing at each phrase
/// prompt; returns the PAM code and what the user saw.
fn login(
    daemon: &Daemon,
    args: &str,
    typist: &RefCell<Typist>,
    answers: &[&str],
) -> (i32, Vec<Msg>) {
    let mut login = Login::new(args, daemon.bus_address()).answers(answers);
    login.user = USER;
    login
        .hook(|prompt, _| typist.borrow_mut().on_prompt(prompt))
        .run()
}

fn stored_template(daemon: &Daemon) -> Result<Template, String> {
    let db = rusqlite::Connection::open_with_flags(
        daemon.db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(|e| e.to_string())?;
    let json: String = db
        .query_row(
            "SELECT template FROM templates WHERE user = ?1",
            [USER],
            |r| r.get(0),
        )
        .map_err(|e| format!("no template for {USER}: {e}"))?;
    serde_json::from_str(&json).map_err(|e| format!("template JSON: {e}"))
}

fn events(daemon: &Daemon) -> Vec<String> {
    daemon.db_events().into_iter().map(|e| e.0).collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

// ---------------------------------------------------------------------------------------
// Cases

/// Login 1: a corrected typing, then three clean ones enroll the user.
fn enroll(daemon: &Daemon, typist: &RefCell<Typist>) -> Check {
    {
        let mut t = typist.borrow_mut();
        // ".tie5Rob", Backspace, "anl": the text is right, the keys hold a correction.
        let corrected: String = ".tie5Rob\u{8}anl\n".into();
        t.script
            .push_back(plan(&corrected, Rhythm::Genuine { variant: 9 }, 0, 40.0));
        for variant in 1..=3 {
            let text = format!("{PHRASE}\n");
            t.script
                .push_back(plan(&text, Rhythm::Genuine { variant }, 0, 40.0));
        }
    }
    // pam_permit stands in for the password: the stack authenticates the user, and the
    // module's pam_setcred commits the enrollment.
    let mut l = Login::new("", daemon.bus_address()).answers(&[PHRASE; 4]);
    l.user = USER;
    l.stack = "auth required {module}\nauth required pam_permit.so".into();
    let (code, seen) = l
        .hook(|prompt, _| typist.borrow_mut().on_prompt(prompt))
        .run();
    let expected = vec![
        info("A typing pattern is displayed. Type the phrase exactly as shown."),
        info("Attempt 1 of 3"),
        echo_on(PROMPT),
        error(CORRECTED),
        info("Attempt 1 of 3"),
        echo_on(PROMPT),
        info("Attempt 2 of 3"),
        echo_on(PROMPT),
        info("Attempt 3 of 3"),
        echo_on(PROMPT),
        info("Typing pattern registered."),
    ];
    // Enrolling is not logging in: the module leaves this login to the rest of the stack
    // (PAM_IGNORE), here pam_permit.
    ensure!(
        (code, &seen) == (PAM_SUCCESS, &expected),
        "PAM code {code}, conversation {seen:#?}"
    );
    let ev = events(daemon);
    ensure!(
        ev.iter().any(|e| e == "E_BEHAVIOR_AUTH_ENROLLED"),
        "events {ev:?}"
    );
    Ok(())
}

/// The stored enrollment timings against the kernel's, typing by typing.
fn timings(daemon: &Daemon, typist: &RefCell<Typist>, figures: &mut Vec<String>) -> Check {
    let template = stored_template(daemon)?;
    let record = template.record();
    let t = typist.borrow();
    // typed[0] was the corrected typing; 1..=3 were enrolled, in order.
    ensure!(t.typed.len() == 4, "{} typings recorded", t.typed.len());
    ensure!(
        record.enrolled.len() == 3,
        "{} enrollment typings stored",
        record.enrolled.len()
    );
    let (mut vs_kernel, mut vs_plan) = (0.0f64, Vec::new());
    for (j, (stored, typed)) in record.enrolled.iter().zip(&t.typed[1..]).enumerate() {
        let kernel = sample_of(&typed.kernel[0]).ok_or("kernel events do not pair up")?;
        let kernel = features::extract(&kernel).map_err(|e| e.to_string())?;
        ensure!(
            kernel.values.len() == stored.len() && kernel.digest == record.digest,
            "typing {j}: stored {} timings, kernel gives {}",
            stored.len(),
            kernel.values.len()
        );
        let d = max_abs_diff(stored, &kernel.values);
        ensure!(
            d <= 1.0,
            "typing {j}: stored timings differ from the kernel's by {d} ms\nstored {stored:?}\nkernel {:?}",
            kernel.values
        );
        vs_kernel = vs_kernel.max(d);
        let planned = sample_of(&planned_events(&typed.steps, 0)).ok_or("plan does not pair")?;
        let planned = features::extract(&planned).map_err(|e| e.to_string())?;
        vs_plan.extend(
            stored
                .iter()
                .zip(&planned.values)
                .map(|(s, p)| (s - p).abs()),
        );
    }
    vs_plan.sort_by(f64::total_cmp);
    let median = vs_plan[vs_plan.len() / 2];
    figures.push(format!(
        "daemon_template_vs_kernel_max_us={:.3} timings={} (3 enrollment typings x {} features)",
        vs_kernel * 1000.0,
        vs_plan.len(),
        record.enrolled[0].len()
    ));
    figures.push(format!(
        "daemon_template_vs_plan_us median={:.0} p90={:.0} max={:.0} (writer's timing under emulation)",
        median * 1000.0,
        vs_plan[vs_plan.len() * 9 / 10] * 1000.0,
        vs_plan[vs_plan.len() - 1] * 1000.0
    ));
    // The writer's own timing under emulation is good to a few ms (median).
    ensure!(
        median <= 2.0,
        "stored timings differ from the plan by {median} ms (median)"
    );
    Ok(())
}

/// Login 2: keys of a second keyboard inside a typing whose own keys match, then another
/// rhythm, are refused; the enrolled rhythm is accepted.
fn verify(daemon: &Daemon, typist: &RefCell<Typist>) -> Check {
    let text = format!("{PHRASE}\n");
    {
        let mut t = typist.borrow_mut();
        let mut mixed = plan(&text, Rhythm::Genuine { variant: 0 }, 0, 40.0);
        // An "x" on the second keyboard between the 3rd and 4th keys.
        let third_down = mixed.iter().filter(|s| s.down).nth(2).unwrap().at_ms;
        mixed.extend(plan(
            "x",
            Rhythm::Genuine { variant: 0 },
            1,
            third_down + 20.0,
        ));
        mixed.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        t.script.push_back(mixed);
        t.script.push_back(plan(&text, Rhythm::Other, 0, 40.0));
        t.script
            .push_back(plan(&text, Rhythm::Genuine { variant: 0 }, 0, 40.0));
    }
    let before = typist.borrow().typed.len();
    let (code, seen) = login(daemon, "", typist, &[PHRASE; 3]);
    let expected = vec![
        echo_on(PROMPT),
        error(INCORRECT_PATTERN),
        echo_on(PROMPT),
        error(INCORRECT_PATTERN),
        echo_on(PROMPT),
    ];
    ensure!(
        (code, &seen) == (PAM_SUCCESS, &expected),
        "PAM code {code}, conversation {seen:#?}"
    );
    // Why each was decided so: the first keyboard's keys alone (kernel times) match the
    // template, so only the second keyboard's key made the first typing fail; the other
    // rhythm does not match.
    let template = stored_template(daemon)?;
    let t = typist.borrow();
    let params = Params::default();
    let score = |i: usize| {
        let s = sample_of(&t.typed[before + i].kernel[0]).unwrap();
        fixed::verify(&template, &s, &params)
    };
    ensure!(
        t.typed[before].kernel[1].len() == 2,
        "second keyboard: {:?}",
        t.typed[before].kernel[1]
    );
    let (mixed, other, genuine) = (score(0), score(1), score(2));
    ensure!(
        mixed.accepted && genuine.accepted && !other.accepted,
        "first keyboard alone {mixed:?}, other rhythm {other:?}, genuine {genuine:?}"
    );
    let ev = events(daemon);
    let failed = ev.iter().filter(|e| *e == "E_BEHAVIOR_AUTH_FAILED").count();
    ensure!(
        failed == 2 && ev.last().map(String::as_str) == Some("E_BEHAVIOR_AUTH_SUCCEEDED"),
        "events {ev:?}"
    );
    Ok(())
}

/// Login 3, after a restart with the default `[input]`: the daemon reads no uinput keys,
/// so the typing is asked again (not counted) until the module's bound; the second reader
/// shows the keys were typed.
fn virtual_ignored(daemon: &mut Daemon, typist: &RefCell<Typist>) -> Check {
    daemon.stop();
    std::fs::write(daemon.config_path(), CONFIG).unwrap();
    daemon.restart();
    let text = format!("{PHRASE}\n");
    typist
        .borrow_mut()
        .script
        .push_back(plan(&text, Rhythm::Genuine { variant: 0 }, 0, 40.0));
    let before = typist.borrow().typed.len();
    // max_tries=1: five prompts (one try plus uncounted retries); only the first is typed.
    let (code, seen) = login(daemon, "max_tries=1", typist, &[PHRASE; 5]);
    let expected: Vec<Msg> = (0..5)
        .flat_map(|_| [echo_on(PROMPT), error(NOTHING)])
        .collect();
    ensure!(
        (code, &seen) == (PAM_MAXTRIES, &expected),
        "PAM code {code}, conversation {seen:#?}"
    );
    let t = typist.borrow();
    ensure!(
        t.typed.len() == before + 1 && t.typed[before].kernel[0].len() == 24,
        "the kernel did not see the typing: {:?}",
        t.typed.get(before).map(|x| &x.kernel)
    );
    Ok(())
}

/// How many keyboards the daemon reads (`behaviorctl status`).
fn daemon_keyboards(daemon: &Daemon) -> Result<u64, String> {
    let out = daemon.ctl(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("behaviorctl status --json: {e}: {out:?}"))?;
    status["keyboards"]
        .as_u64()
        .ok_or_else(|| format!("no keyboards in {status}"))
}

fn wait_keyboards(daemon: &Daemon, n: u64) -> Check {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = daemon_keyboards(daemon)?;
        if now == n {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the daemon reads {now} keyboards, expected {n}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A second keyboard plugged in while the daemon runs is read (the `verify` case types
/// on it); unplugged, it is dropped.
fn plug(daemon: &Daemon, typist: &RefCell<Typist>, before: u64) -> Check {
    typist
        .borrow_mut()
        .kbs
        .push(Keyboard::new("probe-second-keyboard"));
    wait_keyboards(daemon, before + 1)
}

fn unplug(daemon: &Daemon, typist: &RefCell<Typist>, before: u64) -> Check {
    typist.borrow_mut().kbs.truncate(1);
    wait_keyboards(daemon, before)
}

fn main() {
    let started = Instant::now();
    let mut failed = false;
    let mut report = |name: &str, r: Check| match r {
        Ok(()) => println!("VMTEST case {name} ok"),
        Err(why) => {
            failed = true;
            println!("VMTEST case {name} FAIL: {why}");
        }
    };
    let mut figures = Vec::new();

    // The first keyboard is there when the daemon starts; the second comes later.
    let typist = RefCell::new(Typist::new(vec![Keyboard::new("probe-keyboard")]));
    let bus = PrivateBus::start();
    let mut daemon = Daemon::start_with(
        &bus,
        &format!("{CONFIG}[input]\nallow_virtual = true\n"),
        false,
    );
    figures.push(format!(
        "setup_s={:.1} (keyboards, bus, daemon)",
        started.elapsed().as_secs_f64()
    ));

    let r = enroll(&daemon, &typist);
    let enrolled = r.is_ok();
    report("enroll", r);
    if enrolled {
        report("timings", timings(&daemon, &typist, &mut figures));
        match daemon_keyboards(&daemon) {
            Err(why) => report("hotplug", Err(why)),
            Ok(n) => {
                let r = plug(&daemon, &typist, n);
                let plugged = r.is_ok();
                report("hotplug-add", r);
                if plugged {
                    report("verify", verify(&daemon, &typist));
                }
                report("hotplug-remove", unplug(&daemon, &typist, n));
            }
        }
        report("virtual-ignored", virtual_ignored(&mut daemon, &typist));
    }
    figures.push(format!(
        "probe_s={:.1} typings={} prompts={}",
        started.elapsed().as_secs_f64(),
        typist.borrow().typed.len(),
        typist.borrow().prompts
    ));
    for f in figures {
        println!("VMTEST figure {f}");
    }
    if failed {
        std::process::exit(1);
    }
    println!("VMTEST ALL OK");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The planned events with every time moved by up to ±3 ms (deterministic), as
    /// emulation jitter would, and every event from the `pause`th on `pause_ms` later (the
    /// host descheduling the VM once).
    fn jittered(steps: &[Step], seed: u64, pause: usize, pause_ms: i64) -> Sample {
        let mut x = seed;
        let mut ev = planned_events(steps, 0);
        for (i, e) in ev.iter_mut().enumerate() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            e.2 += ((u * 2.0 - 1.0) * 3000.0) as i64;
            if i >= pause {
                e.2 += pause_ms * 1000;
            }
        }
        sample_of(&ev).unwrap()
    }

    /// The planned typings decide as the VM cases expect with a margin, even with ±3 ms of
    /// jitter on every event and one 30 ms pause: so a failure in the VM is the daemon's,
    /// not the plan's.
    #[test]
    fn planned_rhythms_enroll_match_and_differ() {
        let text = format!("{PHRASE}\n");
        let typing = |r| plan(&text, r, 0, 40.0);
        let params = Params::default();
        for seed in 0..50 {
            let enrolled: Vec<Sample> = (1..=3)
                .map(|v| {
                    jittered(
                        &typing(Rhythm::Genuine { variant: v }),
                        seed * 10 + v as u64,
                        0,
                        0,
                    )
                })
                .collect();
            for k in 1..3 {
                fixed::check_candidate(&enrolled[..k], &enrolled[k], &params).unwrap();
            }
            let t = fixed::enroll(&enrolled, &params).unwrap();
            let genuine = typing(Rhythm::Genuine { variant: 0 });
            let v = fixed::verify(&t, &jittered(&genuine, seed + 99, 0, 0), &params);
            assert!(v.score < params.accept * 0.75, "{v:?}");
            for pause in [3, 10, 18] {
                let v = fixed::verify(&t, &jittered(&genuine, seed + 99, pause, 30), &params);
                assert!(v.accepted, "30 ms pause before event {pause}: {v:?}");
            }
            let other = jittered(&typing(Rhythm::Other), seed + 7, 0, 0);
            let v = fixed::verify(&t, &other, &params);
            assert!(v.score > params.accept * 5.0, "{v:?}");
        }
    }

    #[test]
    fn plans_type_the_phrase() {
        let text = format!("{PHRASE}\n");
        let s = sample_of(&planned_events(&plan(&text, Rhythm::Other, 0, 0.0), 0)).unwrap();
        behavior_core::check_typed(&s.keys, PHRASE, behavior_core::Layout::Us).unwrap();
        // Shift, the phrase's ten keys and Enter: 24 events.
        assert_eq!(plan(&text, Rhythm::Other, 0, 0.0).len(), 24);
        let s = sample_of(&planned_events(
            &plan(".tie5Rob\u{8}anl\n", Rhythm::Genuine { variant: 9 }, 0, 0.0),
            0,
        ))
        .unwrap();
        assert_eq!(
            behavior_core::check_typed(&s.keys, PHRASE, behavior_core::Layout::Us),
            Err(behavior_core::LayoutError::Corrections)
        );
    }
}
