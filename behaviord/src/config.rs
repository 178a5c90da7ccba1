//! `/etc/behaviord/behaviord.toml`: the policy file, parsed purely from a string.
//!
//! [`parse`] turns text into a validated [`Config`] or a [`ConfigError`] with the line and a
//! reason; [`load`] adds the file reading. Run-time overrides (`behaviorctl set KEY VALUE`,
//! kept in the database) are applied by [`parse_with_overrides`] on the parsed TOML table
//! before it becomes a `Config`, so a setting is checked by exactly the same rules whether it
//! comes from the file or from `behaviorctl`.

use std::fmt;
use std::path::{Path, PathBuf};

use behavior_core::monitor::MonitorConfig;
use serde::{Deserialize, Serialize};

/// Where the daemon looks when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/behaviord/behaviord.toml";

/// What a login must pass (product.md "adaptive auth journeys").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Journey {
    #[serde(rename = "behavior+pin")]
    BehaviorPin,
    #[serde(rename = "behavior")]
    Behavior,
    #[serde(rename = "pin")]
    Pin,
    #[serde(rename = "none")]
    None,
}

impl Journey {
    pub fn as_str(self) -> &'static str {
        match self {
            Journey::BehaviorPin => "behavior+pin",
            Journey::Behavior => "behavior",
            Journey::Pin => "pin",
            Journey::None => "none",
        }
    }
    pub fn needs_behavior(self) -> bool {
        matches!(self, Journey::BehaviorPin | Journey::Behavior)
    }
    pub fn needs_pin(self) -> bool {
        matches!(self, Journey::BehaviorPin | Journey::Pin)
    }
}

impl fmt::Display for Journey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the PAM module does when the daemon cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// `PAM_AUTHINFO_UNAVAIL`: the stack falls through to the next module.
    Open,
    /// `PAM_AUTH_ERR`: clean rooms.
    Closed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The fixed phrase every user types (its timings are the template).
    pub phrase: String,
    /// Journey when no `[[rule]]` matches.
    pub default_journey: Journey,
    pub fail: FailMode,
    /// Refuse (rather than fall through) logins with a remote host.
    pub deny_remote: bool,
    /// Seconds an authentication handle stays valid.
    pub handle_timeout_secs: u32,
    pub enrollment: Enrollment,
    pub pin: Pin,
    pub verify: Verify,
    pub lockout: Lockout,
    pub thresholds: Thresholds,
    pub session: Session,
    pub input: Input,
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Enrollment {
    /// Typing-pattern enrollment at login (off by default, as in the seed).
    pub behavior: bool,
    /// PIN set-up at login (off by default).
    pub pin: bool,
    /// Good typings of the phrase needed to enroll.
    pub attempts: u32,
    /// The user may skip typing enrollment; that login is left to the rest of the PAM stack.
    pub allow_skip: bool,
    /// Days until a template must be enrolled again (0: never).
    pub template_validity_days: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pin {
    /// Exact number of digits of a PIN.
    pub length: u32,
    /// argon2id memory in KiB, iterations and lanes (see behaviord.toml for the cost).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Verify {
    /// Typing or PIN tries per login.
    pub max_tries: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lockout {
    /// Consecutive failures (typing or PIN) that lock a user out; 0 disables lockout.
    pub failures: u32,
    /// How long, in minutes (fractions allowed: 0.5 is 30 seconds).
    pub minutes: f64,
    /// Lock root out too (pam_faillock's `even_deny_root`); off, root's failures count
    /// for nothing, so no one can lock the administrator out by failing on purpose.
    pub even_deny_root: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// The matcher's operating point (`behavior_core::fixed::Params::accept`): a typing is
    /// accepted when its score is at most this; 1 is "as far from the pattern as the user's
    /// own enrollment typings are from each other". Larger is more lenient.
    pub accept: f64,
    /// Session monitor: risk at which the session is locked (`behavior_core::monitor`'s
    /// scale: about 1 for the user's own typing).
    pub step_up: f64,
    /// Session monitor: risk at which the session is terminated.
    pub logout: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Session {
    /// Keep checking the typing of enrolled users' active local sessions.
    pub monitor: bool,
    /// Keystrokes of ordinary typing that build a user's session profile.
    pub learning_keystrokes: u32,
    /// Keystrokes in the scored sliding window.
    pub window: u32,
    /// No step-up or logout for this long after an unlock.
    pub grace_seconds: u32,
    /// The window starts afresh after this long without typing.
    pub idle_reset_seconds: u32,
}

/// `[input]`: which keyboards the daemon reads; taken at start only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Input {
    /// Read virtual (uinput) keyboards too. Off: a replay of recorded timings through uinput
    /// is an attack, not a user; tests turn it on.
    pub allow_virtual: bool,
}

/// `[[rule]]`: the first rule whose every given list matches decides the journey. An empty
/// or absent list matches anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    /// Terminal names as PAM_TTY gives them; a trailing `*` matches a prefix (`pts/*`).
    #[serde(default)]
    pub ttys: Vec<String>,
    pub journey: Journey,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            phrase: ".tie5Roanl".to_string(),
            default_journey: Journey::BehaviorPin,
            fail: FailMode::Open,
            deny_remote: false,
            handle_timeout_secs: 300,
            enrollment: Enrollment::default(),
            pin: Pin::default(),
            verify: Verify::default(),
            lockout: Lockout::default(),
            thresholds: Thresholds::default(),
            session: Session::default(),
            input: Input::default(),
            rules: Vec::new(),
        }
    }
}

impl Default for Session {
    fn default() -> Session {
        let m = MonitorConfig::default();
        Session {
            monitor: true,
            learning_keystrokes: m.learning_keystrokes as u32,
            window: m.window as u32,
            grace_seconds: (m.grace_ms / 1000) as u32,
            idle_reset_seconds: (m.idle_reset_ms / 1000) as u32,
        }
    }
}

impl Default for Enrollment {
    fn default() -> Enrollment {
        Enrollment {
            behavior: false,
            pin: false,
            attempts: 5,
            allow_skip: false,
            template_validity_days: 180,
        }
    }
}

impl Default for Pin {
    fn default() -> Pin {
        // OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane).
        Pin {
            length: 6,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}

impl Default for Verify {
    fn default() -> Verify {
        Verify { max_tries: 3 }
    }
}

impl Default for Lockout {
    fn default() -> Lockout {
        Lockout {
            failures: 5,
            minutes: 15.0,
            even_deny_root: false,
        }
    }
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            accept: behavior_core::fixed::Params::default().accept,
            step_up: MonitorConfig::default().step_up.unwrap_or(1.7),
            logout: MonitorConfig::default().logout.unwrap_or(3.0),
        }
    }
}

/// Why a configuration was refused: the 1-based line (0 when it is not tied to a line) and a
/// sentence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ConfigError {
    pub line: usize,
    pub reason: String,
}

/// A file that could not be used: its path and why.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {error}")]
    Invalid { path: PathBuf, error: ConfigError },
}

/// Parses and validates a configuration file's text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_with_overrides(text, &[])
}

/// Like [`parse`], with `KEY = VALUE` overrides (dotted keys such as `lockout.failures`,
/// values in TOML syntax or bare strings) applied on top of the file.
pub fn parse_with_overrides(
    text: &str,
    overrides: &[(String, String)],
) -> Result<Config, ConfigError> {
    let span_err = |e: toml::de::Error| ConfigError {
        line: e.span().map_or(0, |s| line_of(text, s.start)),
        reason: e.message().to_string(),
    };
    // The file alone first, so its errors keep their positions.
    let mut config: Config = toml::from_str(text).map_err(span_err)?;
    if !overrides.is_empty() {
        let mut table: toml::Table = text.parse().map_err(span_err)?;
        // One at a time, so a refused value names its key.
        for (key, value) in overrides {
            let bad = |reason: String| ConfigError {
                line: 0,
                reason: format!("{key}: {reason}"),
            };
            apply_override(&mut table, key, value).map_err(bad)?;
            config = toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| bad(e.message().to_string()))?;
            config.validate().map_err(|(_, reason)| bad(reason))?;
        }
    }
    config.validate().map_err(|(key, reason)| ConfigError {
        line: key_line(text, &key),
        reason: format!("{key}: {reason}"),
    })?;
    Ok(config)
}

/// The file with every stored override it admits, applied in order; the refused ones are
/// returned with the reason (an override can go stale when the file changes). `Err` only
/// when the file itself is invalid.
pub fn effective(
    text: &str,
    overrides: &[(String, String)],
) -> Result<(Config, Vec<(String, String)>), ConfigError> {
    let mut usable: Vec<(String, String)> = Vec::new();
    let mut refused = Vec::new();
    for o in overrides {
        usable.push(o.clone());
        if let Err(e) = parse_with_overrides(text, &usable) {
            usable.pop();
            refused.push((o.0.clone(), e.reason));
        }
    }
    Ok((parse_with_overrides(text, &usable)?, refused))
}

/// Reads and parses `path`.
pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with_overrides(&text, overrides).map_err(|error| LoadError::Invalid {
        path: path.to_path_buf(),
        error,
    })
}

/// Keys the PAM module reads from the file itself (they decide what happens when the daemon
/// is down, so a run-time override in the daemon's database would never reach the module).
pub const FILE_ONLY: &[&str] = &["fail", "deny_remote"];

/// Why `key` cannot be changed at run time, when it cannot.
pub fn not_settable(key: &str) -> Option<String> {
    if FILE_ONLY.contains(&key) {
        Some(format!(
            "{key} is read by the PAM module from the policy file; change it there"
        ))
    } else if !SETTABLE.contains(&key) {
        Some(format!(
            "{key} is not a setting (see `behaviorctl settings`)"
        ))
    } else {
        None
    }
}

/// The settings `behaviorctl set` may change (scalars; rules stay in the file).
pub const SETTABLE: &[&str] = &[
    "phrase",
    "default_journey",
    "handle_timeout_secs",
    "enrollment.behavior",
    "enrollment.pin",
    "enrollment.attempts",
    "enrollment.allow_skip",
    "enrollment.template_validity_days",
    "pin.length",
    "pin.argon2_memory_kib",
    "pin.argon2_iterations",
    "pin.argon2_parallelism",
    "verify.max_tries",
    "lockout.failures",
    "lockout.minutes",
    "lockout.even_deny_root",
    "thresholds.accept",
    "thresholds.step_up",
    "thresholds.logout",
    "session.monitor",
    "session.learning_keystrokes",
    "session.window",
    "session.grace_seconds",
    "session.idle_reset_seconds",
];

impl Config {
    /// The value of a settable key, as text.
    pub fn get(&self, key: &str) -> Option<String> {
        let value = toml::Value::try_from(self).ok()?;
        let mut cur = &value;
        for part in key.split('.') {
            cur = cur.get(part)?;
        }
        Some(match cur {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    fn validate(&self) -> Result<(), (String, String)> {
        fn range<T: PartialOrd + fmt::Display>(
            key: &str,
            v: T,
            lo: T,
            hi: T,
        ) -> Result<(), (String, String)> {
            if v < lo || v > hi {
                return Err((key.to_string(), format!("{v} is out of range {lo}..={hi}")));
            }
            Ok(())
        }
        // At least as many characters as the matcher needs keys.
        let phrase_ok = self.phrase.len() >= behavior_core::features::MIN_KEYS
            && self.phrase.len() <= 128
            && self
                .phrase
                .chars()
                .all(|c| c.is_ascii_graphic() || c == ' ');
        if !phrase_ok {
            return Err((
                "phrase".into(),
                format!(
                    "must be {} to 128 printable ASCII characters",
                    behavior_core::features::MIN_KEYS
                ),
            ));
        }
        range("handle_timeout_secs", self.handle_timeout_secs, 1, 3600)?;
        // The matcher needs at least this many typings for a template.
        let min_typings = behavior_core::fixed::MIN_ENROLL_TYPINGS as u32;
        range(
            "enrollment.attempts",
            self.enrollment.attempts,
            min_typings,
            20,
        )?;
        range(
            "enrollment.template_validity_days",
            self.enrollment.template_validity_days,
            0,
            3650,
        )?;
        range("pin.length", self.pin.length, 4, 32)?;
        // Every PIN check costs this much of one machine, and several may run at once.
        range(
            "pin.argon2_memory_kib",
            self.pin.argon2_memory_kib,
            64,
            MAX_ARGON2_MEMORY_KIB,
        )?;
        range(
            "pin.argon2_iterations",
            self.pin.argon2_iterations,
            1,
            MAX_ARGON2_ITERATIONS,
        )?;
        range(
            "pin.argon2_parallelism",
            self.pin.argon2_parallelism,
            1,
            MAX_ARGON2_LANES,
        )?;
        let passes = u64::from(self.pin.argon2_memory_kib) * u64::from(self.pin.argon2_iterations);
        if passes > MAX_ARGON2_MEMORY_PASSES_KIB {
            return Err((
                "pin.argon2_iterations".into(),
                format!(
                    "{} passes over {} KiB is more than {} MiB of memory passes per check",
                    self.pin.argon2_iterations,
                    self.pin.argon2_memory_kib,
                    MAX_ARGON2_MEMORY_PASSES_KIB / 1024
                ),
            ));
        }
        if self.pin.argon2_memory_kib < 8 * self.pin.argon2_parallelism {
            return Err((
                "pin.argon2_memory_kib".into(),
                "must be at least 8 KiB per lane (argon2_parallelism)".into(),
            ));
        }
        range("verify.max_tries", self.verify.max_tries, 1, 20)?;
        range("lockout.failures", self.lockout.failures, 0, 1000)?;
        if !self.lockout.minutes.is_finite() {
            return Err(("lockout.minutes".into(), "must be a number".into()));
        }
        range("lockout.minutes", self.lockout.minutes, 0.01, 10080.0)?;
        for (key, v) in [
            ("thresholds.accept", self.thresholds.accept),
            ("thresholds.step_up", self.thresholds.step_up),
            ("thresholds.logout", self.thresholds.logout),
        ] {
            if !v.is_finite() {
                return Err((key.into(), "must be a number".into()));
            }
        }
        range("thresholds.accept", self.thresholds.accept, 0.1, 10.0)?;
        range("thresholds.step_up", self.thresholds.step_up, 0.1, 100.0)?;
        range("thresholds.logout", self.thresholds.logout, 0.1, 100.0)?;
        if self.thresholds.logout < self.thresholds.step_up {
            return Err((
                "thresholds.logout".into(),
                "must not be below thresholds.step_up".into(),
            ));
        }
        range("session.window", self.session.window, 10, 10_000)?;
        range(
            "session.learning_keystrokes",
            self.session.learning_keystrokes,
            1,
            1_000_000,
        )?;
        range(
            "session.grace_seconds",
            self.session.grace_seconds,
            0,
            86_400,
        )?;
        range(
            "session.idle_reset_seconds",
            self.session.idle_reset_seconds,
            1,
            86_400,
        )?;
        if let Err(e) = self.monitor_config().validate() {
            let key = match e {
                behavior_core::monitor::MonitorConfigError::Learning { .. } => {
                    "session.learning_keystrokes"
                }
                behavior_core::monitor::MonitorConfigError::Threshold { .. } => {
                    "thresholds.step_up"
                }
                _ => "session.window",
            };
            return Err((key.into(), e.to_string()));
        }
        for rule in &self.rules {
            let lists = [&rule.users, &rule.groups, &rule.services, &rule.ttys];
            if lists.iter().any(|l| l.iter().any(|s| s.is_empty())) {
                return Err(("rule".into(), "empty name in a list".into()));
            }
        }
        Ok(())
    }

    /// The session monitor's settings.
    pub fn monitor_config(&self) -> MonitorConfig {
        let d = MonitorConfig::default();
        let window = self.session.window as usize;
        MonitorConfig {
            learning_keystrokes: self.session.learning_keystrokes as usize,
            window,
            step: d.step.min(window),
            memory: d.memory.max(d.step.min(window)),
            step_up: Some(self.thresholds.step_up),
            logout: Some(self.thresholds.logout),
            grace_ms: u64::from(self.session.grace_seconds) * 1000,
            idle_reset_ms: u64::from(self.session.idle_reset_seconds) * 1000,
            params: d.params,
        }
    }

    /// Lockout duration in milliseconds.
    pub fn lockout_ms(&self) -> i64 {
        (self.lockout.minutes * 60_000.0).round() as i64
    }
}

/// Whether failures of `uid` count towards a lockout and a lockout stops it: lockout is on
/// (`lockout.failures` > 0) and `uid` is not root, unless `lockout.even_deny_root` is set.
pub fn lockout_applies(uid: u32, cfg: &Config) -> bool {
    cfg.lockout.failures > 0 && (uid != 0 || cfg.lockout.even_deny_root)
}

/// Bounds of the argon2id cost of one PIN check, what one machine can afford for each of
/// several checks at once: 256 MiB, 10 passes, 4 lanes, and at most 1 GiB of memory passes
/// (memory times passes; 256 MiB allows 4 passes, the default 19 MiB all 10).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
pub const MAX_ARGON2_ITERATIONS: u32 = 10;
pub const MAX_ARGON2_LANES: u32 = 4;
pub const MAX_ARGON2_MEMORY_PASSES_KIB: u64 = 1024 * 1024;

/// Sets `key` (dotted) in `table` to `value`, read as a TOML value when it parses as one
/// (`true`, `3`, `0.5`, `"x"`), else as a bare string.
fn apply_override(table: &mut toml::Table, key: &str, value: &str) -> Result<(), String> {
    if let Some(why) = not_settable(key) {
        return Err(why);
    }
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut cur = table;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_string(), parsed);
            return Ok(());
        }
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("{part} is not a table in the configuration file"))?;
    }
    Ok(())
}

/// True when the file's text sets `key` (dotted) itself.
pub fn defined_in(text: &str, key: &str) -> bool {
    key_line(text, key) > 0
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.matches('\n').count() + 1)
}

/// The line defining dotted `key` (`section.name`, or `rule` for the first `[[rule]]`); 0
/// when it comes from a default or an override.
fn key_line(text: &str, key: &str) -> usize {
    let (section, name) = match key.rsplit_once('.') {
        Some((s, n)) => (s, n),
        None if key == "rule" => return find_line(text, |l| l == "[[rule]]").unwrap_or(0),
        None => ("", key),
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            current = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let defines = l.split_once('=').is_some_and(|(k, _)| k.trim() == name);
        if defines && current == section {
            return i + 1;
        }
    }
    0
}

fn find_line(text: &str, pred: impl Fn(&str) -> bool) -> Option<usize> {
    text.lines().position(|l| pred(l.trim())).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::default());
        assert!(
            !c.enrollment.behavior && !c.enrollment.pin,
            "enrollment off by default"
        );
    }

    #[test]
    fn the_shipped_file_is_valid_and_documents_every_key() {
        let text = include_str!("../../etc/behaviord.toml");
        parse(text).unwrap();
        for key in SETTABLE.iter().chain(FILE_ONLY) {
            let name = key.rsplit('.').next().unwrap();
            assert!(text.contains(&format!("{name} =")), "{key} undocumented");
        }
    }

    #[test]
    fn reads_sections_and_rules() {
        let c = parse(
            r#"
phrase = "hello world"
[enrollment]
behavior = true
attempts = 3
[lockout]
minutes = 0.05
[[rule]]
services = ["sshd"]
journey = "pin"
"#,
        )
        .unwrap();
        assert!(c.enrollment.behavior);
        assert_eq!(c.enrollment.attempts, 3);
        assert_eq!(c.lockout_ms(), 3000);
        assert_eq!(c.rules[0].journey, Journey::Pin);
        assert_eq!(c.phrase, "hello world");
    }

    #[test]
    fn virtual_keyboards_are_ignored_unless_allowed() {
        assert!(!parse("").unwrap().input.allow_virtual);
        assert!(!parse("[input]\n").unwrap().input.allow_virtual);
        let c = parse("[input]\nallow_virtual = true\n").unwrap();
        assert!(c.input.allow_virtual);
        let e = parse("[input]\nallow_virtual = \"yes\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse("[input]\nallow_uinput = true\n").unwrap_err();
        assert!(e.reason.contains("allow_uinput"), "{e}");
        // Not a run-time setting: the reader is started once.
        assert!(
            parse_with_overrides("", &[("input.allow_virtual".into(), "true".into())]).is_err()
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("[enrollment]\nbehavior = true\nbogus = 1\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.reason.contains("bogus"), "{e}");

        let e = parse("[pin]\n\nlength = 2\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.reason.contains("pin.length"), "{e}");

        let e = parse("a = = 1").unwrap_err();
        assert_eq!(e.line, 1, "{e}");

        let e = parse("[[rule]]\njourney = \"fingerprint\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");

        let e = parse("[verify]\nmax_tries = \"three\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");

        // What the matcher cannot work with.
        let e = parse("[enrollment]\nattempts = 2\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse("phrase = \"ab\"\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
    }

    #[test]
    fn stale_overrides_are_set_aside() {
        let overrides = vec![
            ("pin.length".to_string(), "8".to_string()),
            ("thresholds.logout".to_string(), "1.0".to_string()),
            ("enrollment.pin".to_string(), "true".to_string()),
        ];
        // logout below the file's step_up: refused, the others apply.
        let (c, refused) = effective("[thresholds]\nstep_up = 2.0\n", &overrides).unwrap();
        assert_eq!((c.pin.length, c.enrollment.pin), (8, true));
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, "thresholds.logout");
        assert!(effective("bogus = 1", &overrides).is_err());
    }

    #[test]
    fn overrides_win_and_are_checked() {
        let file = "[enrollment]\nbehavior = false\n";
        let c =
            parse_with_overrides(file, &[("enrollment.behavior".into(), "true".into())]).unwrap();
        assert!(c.enrollment.behavior);
        assert_eq!(c.get("enrollment.behavior").as_deref(), Some("true"));
        let c = parse_with_overrides(file, &[("phrase".into(), "abc def".into())]).unwrap();
        assert_eq!(c.phrase, "abc def");
        assert!(parse_with_overrides(file, &[("pin.length".into(), "1".into())]).is_err());
        assert!(parse_with_overrides(file, &[("nope".into(), "1".into())]).is_err());
        assert!(parse_with_overrides(file, &[("rule".into(), "1".into())]).is_err());
        assert_eq!(c.get("default_journey").as_deref(), Some("behavior+pin"));
    }

    #[test]
    fn keys_the_pam_module_reads_from_the_file_cannot_be_overridden() {
        for key in FILE_ONLY {
            let err = parse_with_overrides("", &[(key.to_string(), "true".into())])
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("read by the PAM module from the policy file"),
                "{err}"
            );
        }
        assert_eq!(not_settable("lockout.failures"), None);
    }

    #[test]
    fn root_is_exempt_from_lockout_unless_even_deny_root() {
        let mut c = parse("").unwrap();
        assert!(!c.lockout.even_deny_root);
        assert!(lockout_applies(1000, &c));
        assert!(!lockout_applies(0, &c));
        c = parse_with_overrides("", &[("lockout.even_deny_root".into(), "true".into())]).unwrap();
        assert!(lockout_applies(0, &c));
        c = parse("[lockout]\nfailures = 0\neven_deny_root = true\n").unwrap();
        assert!(!lockout_applies(0, &c), "failures = 0 disables lockout");
        assert!(!lockout_applies(1000, &c));
    }
}
