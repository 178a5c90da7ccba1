//! Module arguments (`debug max_tries=N timeout=S factors=behavior,pin fail=open|closed
//! remote=fallthrough|deny conf=PATH policy=PATH`). Three layers, each overriding the one
//! before:
//! 1. the daemon's policy file ([`POLICY_FILE`], or `policy=PATH`): its top-level `fail` and
//!    `deny_remote` keys. They must be read here because they decide what happens when the
//!    daemon cannot be reached, so the daemon cannot hand them over;
//! 2. the module's own `key=value` file: `conf=PATH`, or else [`DEFAULT_CONF`] when it exists;
//! 3. the pam.d arguments.
//!
//! Pure: files are read through a callback.
//!
//! An unknown or malformed argument is reported in `warnings` (the caller logs it) and
//! ignored; numbers are clamped to sane bounds. Nothing here is ever fatal.

use std::path::Path;
use std::time::Duration;

pub const MAX_TRIES_BOUNDS: (u32, u32) = (1, 10);
pub const TIMEOUT_BOUNDS_SECS: (u64, u64) = (1, 120);
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// Read when no `conf=` is given; its absence is not an error.
pub const DEFAULT_CONF: &str = "/etc/security/pam_behavior.conf";
/// The daemon's policy file, read for `fail` and `deny_remote` when no `policy=` is given;
/// its absence is not an error.
pub const POLICY_FILE: &str = "/etc/behaviord/behaviord.toml";

pub use behavior_core::decision::{Factors, FailMode};

/// What a remote login gets (it never reaches the daemon either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteMode {
    /// `PAM_AUTHINFO_UNAVAIL`: the stack falls through (default).
    FallThrough,
    /// `PAM_AUTH_ERR`.
    Deny,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub debug: bool,
    /// Caps the daemon's `max_tries` (the smaller of the two applies).
    pub max_tries: Option<u32>,
    /// Bounds the connection set-up and every daemon call.
    pub timeout: Duration,
    /// Factors that must have passed in addition to what the journey asks; never waived
    /// by an enrollment or a skip.
    pub factors: Factors,
    pub fail: FailMode,
    pub remote: RemoteMode,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            debug: false,
            max_tries: None,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            factors: Factors::NONE,
            fail: FailMode::Open,
            remote: RemoteMode::FallThrough,
        }
    }
}

/// Settings plus one sentence per argument that was ignored or changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub settings: Settings,
    pub warnings: Vec<String>,
    /// The daemon's policy file exists but cannot be understood (`file:line: reason`). The
    /// module then refuses every login: what it would fall back to (`fail = "open"`, remote
    /// logins allowed) may be exactly what the file forbids.
    pub policy_error: Option<String>,
}

/// Resolves the pam.d arguments, reading the policy and `conf=` files through `read_file`.
pub fn parse<S: AsRef<str>>(
    args: &[S],
    mut read_file: impl FnMut(&Path) -> std::io::Result<String>,
) -> Parsed {
    let mut parsed = Parsed {
        settings: Settings::default(),
        warnings: Vec::new(),
        policy_error: None,
    };
    let policy = args
        .iter()
        .filter_map(|a| a.as_ref().strip_prefix("policy="))
        .next_back();
    let policy_path = policy.unwrap_or(POLICY_FILE);
    match read_file(Path::new(policy_path)) {
        Ok(text) => apply_policy(&mut parsed, &text, policy_path),
        Err(e) if policy.is_none() && e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => parsed.warnings.push(format!(
            "policy={policy_path}: cannot be read ({e}); ignored"
        )),
    }
    // The file first, so that pam.d arguments override it; only the last `conf=` counts.
    let conf = args
        .iter()
        .filter_map(|a| a.as_ref().strip_prefix("conf="))
        .next_back();
    let path = conf.unwrap_or(DEFAULT_CONF);
    match read_file(Path::new(path)) {
        Ok(text) => {
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let origin = format!("{path}:{}", number + 1);
                if line.starts_with("conf=") {
                    parsed
                        .warnings
                        .push(format!("{origin}: `conf=` inside a conf file is ignored"));
                    continue;
                }
                apply(&mut parsed, line, &origin);
            }
        }
        Err(e) if conf.is_none() && e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => parsed
            .warnings
            .push(format!("conf={path}: cannot be read ({e}); ignored")),
    }
    for arg in args {
        let arg = arg.as_ref();
        if !arg.starts_with("conf=") && !arg.starts_with("policy=") {
            apply(&mut parsed, arg, "argument");
        }
    }
    parsed
}

/// Takes `fail = "open"|"closed"` and `deny_remote = true|false` from the top level of the
/// daemon's TOML policy, parsed as TOML so that every spelling the daemon accepts
/// (`'closed'`, `"fail" = ...`) means the same here. The daemon validates the whole file;
/// here every other key is skipped. A file that is not TOML, or one of these two keys with
/// a value the daemon would refuse, is a [`Parsed::policy_error`]: the module fails closed.
fn apply_policy(parsed: &mut Parsed, text: &str, path: &str) {
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let line = e.span().map_or(0, |span| {
                let before = &text.as_bytes()[..span.start.min(text.len())];
                before.iter().filter(|&&b| b == b'\n').count() + 1
            });
            let why = e.message().trim().replace('\n', "; ");
            parsed.policy_error = Some(format!("{path}:{line}: not valid TOML ({why})"));
            return;
        }
    };
    match table.get("fail") {
        None => {}
        Some(toml::Value::String(v)) if v == "open" => parsed.settings.fail = FailMode::Open,
        Some(toml::Value::String(v)) if v == "closed" => parsed.settings.fail = FailMode::Closed,
        Some(v) => {
            parsed.policy_error = Some(format!(
                "{path}: fail = {v} (expected \"open\" or \"closed\")"
            ))
        }
    }
    match table.get("deny_remote") {
        None => {}
        Some(toml::Value::Boolean(false)) => parsed.settings.remote = RemoteMode::FallThrough,
        Some(toml::Value::Boolean(true)) => parsed.settings.remote = RemoteMode::Deny,
        Some(v) => {
            parsed.policy_error = Some(format!(
                "{path}: deny_remote = {v} (expected true or false)"
            ))
        }
    }
}

fn apply(parsed: &mut Parsed, item: &str, origin: &str) {
    let settings = &mut parsed.settings;
    let warnings = &mut parsed.warnings;
    let (key, value) = match item.split_once('=') {
        Some((k, v)) => (k.trim(), Some(v.trim())),
        None => (item.trim(), None),
    };
    match (key, value) {
        ("debug", None) => settings.debug = true,
        ("max_tries", Some(v)) => {
            if let Some(n) = number(v, MAX_TRIES_BOUNDS, origin, key, warnings) {
                settings.max_tries = Some(n);
            }
        }
        ("timeout", Some(v)) => {
            let bounds = (TIMEOUT_BOUNDS_SECS.0 as u32, TIMEOUT_BOUNDS_SECS.1 as u32);
            if let Some(n) = number(v, bounds, origin, key, warnings) {
                settings.timeout = Duration::from_secs(u64::from(n));
            }
        }
        ("factors", Some(v)) => {
            let mut factors = Factors::NONE;
            for name in v.split(',').map(str::trim) {
                match Factors::parse_one(name) {
                    Some(f) => factors = factors.union(f),
                    None => warnings.push(format!(
                        "{origin}: factors: unknown factor {name:?} ignored (known: behavior, pin)"
                    )),
                }
            }
            settings.factors = factors;
        }
        ("fail", Some("open")) => settings.fail = FailMode::Open,
        ("fail", Some("closed")) => settings.fail = FailMode::Closed,
        ("remote", Some("fallthrough")) => settings.remote = RemoteMode::FallThrough,
        ("remote", Some("deny")) => settings.remote = RemoteMode::Deny,
        ("fail", Some(v)) => warnings.push(format!(
            "{origin}: fail={v:?} ignored (expected `open` or `closed`)"
        )),
        ("remote", Some(v)) => warnings.push(format!(
            "{origin}: remote={v:?} ignored (expected `fallthrough` or `deny`)"
        )),
        _ => warnings.push(format!("{origin}: unknown argument {item:?} ignored")),
    }
}

fn number(
    value: &str,
    (low, high): (u32, u32),
    origin: &str,
    key: &str,
    warnings: &mut Vec<String>,
) -> Option<u32> {
    match value.parse::<u32>() {
        Ok(n) if n < low || n > high => {
            let clamped = n.clamp(low, high);
            warnings.push(format!(
                "{origin}: {key}={n} is outside {low}..={high}; using {clamped}"
            ));
            Some(clamped)
        }
        Ok(n) => Some(n),
        Err(_) => {
            warnings.push(format!(
                "{origin}: {key}={value:?} is not a whole number; ignored"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No `conf=`/`policy=` given and neither default file installed.
    fn no_file(path: &Path) -> std::io::Result<String> {
        assert!(path == Path::new(DEFAULT_CONF) || path == Path::new(POLICY_FILE));
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, "absent"))
    }

    #[test]
    fn the_daemon_policy_sets_fail_and_remote_and_the_module_files_override_it() {
        let policy = "# behaviord.toml\nphrase = \"x#y\"\nfail = \"closed\" # clean room\n\
                      deny_remote = true\n[enrollment]\nfail = \"open\"\n";
        let parsed = parse::<&str>(&[], only_file(POLICY_FILE, policy));
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        // `fail` inside [enrollment] is not the top-level key.
        assert_eq!(parsed.settings.fail, FailMode::Closed);
        assert_eq!(parsed.settings.remote, RemoteMode::Deny);
        // Other TOML spellings of the same keys mean the same.
        for other in [
            "fail = 'closed'\ndeny_remote = true\n",
            "\"fail\" = \"closed\"\n'deny_remote' = true\n",
            "fail = \"\"\"closed\"\"\"\ndeny_remote=true # note\n",
        ] {
            let parsed = parse::<&str>(&[], only_file(POLICY_FILE, other));
            assert!(parsed.warnings.is_empty(), "{other}: {:?}", parsed.warnings);
            assert_eq!(parsed.settings.fail, FailMode::Closed, "{other}");
            assert_eq!(parsed.settings.remote, RemoteMode::Deny, "{other}");
        }
        // pam.d arguments win over the policy file.
        let parsed = parse(
            &["fail=open", "remote=fallthrough"],
            only_file(POLICY_FILE, policy),
        );
        assert_eq!(parsed.settings.fail, FailMode::Open);
        assert_eq!(parsed.settings.remote, RemoteMode::FallThrough);
    }

    #[test]
    fn a_policy_file_that_cannot_be_understood_is_an_error_not_a_fallback() {
        let parsed = parse(
            &["policy=/srv/b.toml"],
            only_file("/srv/b.toml", "fail = \"shut\"\n"),
        );
        assert_eq!(
            parsed.policy_error.as_deref(),
            Some("/srv/b.toml: fail = \"shut\" (expected \"open\" or \"closed\")")
        );
        let parsed = parse(
            &["policy=/srv/b.toml"],
            only_file("/srv/b.toml", "deny_remote = \"yes\"\n"),
        );
        assert_eq!(
            parsed.policy_error.as_deref(),
            Some("/srv/b.toml: deny_remote = \"yes\" (expected true or false)")
        );
        // A syntax error anywhere, even far from `fail`, names the file and its line.
        let text = "fail = \"closed\"\ndeny_remote = true\n[thresholds]\naccept = = 2\n";
        let parsed = parse(&["policy=/srv/b.toml"], only_file("/srv/b.toml", text));
        let error = parsed.policy_error.unwrap_or_default();
        assert!(
            error.starts_with("/srv/b.toml:4: not valid TOML ("),
            "{error}"
        );
        let parsed = parse::<&str>(&[], only_file(POLICY_FILE, "fail = closed\n"));
        assert!(parsed.policy_error.is_some(), "the default file too");
        // A named policy file that is missing is reported, the default one is not.
        let parsed = parse(&["policy=/nope.toml"], no_file_anywhere);
        assert_eq!(
            parsed.warnings,
            vec!["policy=/nope.toml: cannot be read (absent); ignored"]
        );
    }

    /// Only the file at `at` exists, holding `text`.
    fn only_file<'a>(at: &'a str, text: &'a str) -> impl Fn(&Path) -> std::io::Result<String> + 'a {
        move |path| {
            if path == Path::new(at) {
                Ok(text.into())
            } else {
                no_file(path)
            }
        }
    }

    fn no_file_anywhere(_: &Path) -> std::io::Result<String> {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, "absent"))
    }

    #[test]
    fn the_default_conf_file_is_read_when_present() {
        let parsed = parse(&["max_tries=3"], |path| {
            if path == Path::new(POLICY_FILE) {
                return no_file(path);
            }
            assert_eq!(path, Path::new("/etc/security/pam_behavior.conf"));
            Ok("fail=closed\nmax_tries=5\n".into())
        });
        assert_eq!(parsed.settings.fail, FailMode::Closed);
        assert_eq!(parsed.settings.max_tries, Some(3));
        assert!(parsed.warnings.is_empty());
        // Present but unreadable is reported.
        let parsed = parse::<&str>(&[], |_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "denied",
            ))
        });
        assert_eq!(
            parsed.warnings,
            vec![
                "policy=/etc/behaviord/behaviord.toml: cannot be read (denied); ignored",
                "conf=/etc/security/pam_behavior.conf: cannot be read (denied); ignored"
            ]
        );
    }

    #[test]
    fn defaults_without_arguments() {
        let parsed = parse::<&str>(&[], no_file);
        assert_eq!(parsed.settings, Settings::default());
        assert!(parsed.warnings.is_empty());
        assert_eq!(parsed.settings.timeout, Duration::from_secs(10));
        assert_eq!(parsed.settings.fail, FailMode::Open);
    }

    #[test]
    fn every_argument_is_understood() {
        let parsed = parse(
            &[
                "debug",
                "max_tries=4",
                "timeout=3",
                "factors=pin,behavior",
                "fail=closed",
                "remote=deny",
            ],
            no_file,
        );
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let s = parsed.settings;
        assert!(s.debug);
        assert_eq!(s.max_tries, Some(4));
        assert_eq!(s.timeout, Duration::from_secs(3));
        assert_eq!(s.factors, Factors::BOTH);
        assert_eq!(s.fail, FailMode::Closed);
        assert_eq!(s.remote, RemoteMode::Deny);
    }

    #[test]
    fn unknown_and_malformed_arguments_are_reported_and_ignored() {
        let parsed = parse(
            &[
                "verbose",
                "max_tries=lots",
                "timeout=",
                "factors=behavior,face",
                "fail=maybe",
                "debug=yes",
            ],
            no_file,
        );
        assert_eq!(
            parsed.warnings,
            vec![
                "argument: unknown argument \"verbose\" ignored",
                "argument: max_tries=\"lots\" is not a whole number; ignored",
                "argument: timeout=\"\" is not a whole number; ignored",
                "argument: factors: unknown factor \"face\" ignored (known: behavior, pin)",
                "argument: fail=\"maybe\" ignored (expected `open` or `closed`)",
                "argument: unknown argument \"debug=yes\" ignored",
            ]
        );
        let s = parsed.settings;
        assert_eq!(s.max_tries, None);
        assert_eq!(s.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
        assert_eq!(s.factors, Factors::BEHAVIOR);
        assert_eq!(s.fail, FailMode::Open);
        assert!(!s.debug);
    }

    #[test]
    fn numbers_are_clamped() {
        let parsed = parse(&["max_tries=0", "timeout=100000"], no_file);
        assert_eq!(parsed.settings.max_tries, Some(1));
        assert_eq!(parsed.settings.timeout, Duration::from_secs(120));
        assert_eq!(
            parsed.warnings,
            vec![
                "argument: max_tries=0 is outside 1..=10; using 1",
                "argument: timeout=100000 is outside 1..=120; using 120",
            ]
        );
        // Does not overflow.
        let parsed = parse(&["max_tries=99999999999"], no_file);
        assert_eq!(parsed.settings.max_tries, None);
    }

    #[test]
    fn conf_file_is_read_first_and_arguments_override_it() {
        let parsed = parse(&["conf=/etc/x.conf", "timeout=2"], |path| {
            if path == Path::new(POLICY_FILE) {
                return no_file(path);
            }
            assert_eq!(path, Path::new("/etc/x.conf"));
            Ok("# clean room\nfail=closed\n\ntimeout=30\nmax_tries=2\nconf=/other\nbogus\n".into())
        });
        let s = &parsed.settings;
        assert_eq!(s.fail, FailMode::Closed);
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(s.max_tries, Some(2));
        assert_eq!(
            parsed.warnings,
            vec![
                "/etc/x.conf:6: `conf=` inside a conf file is ignored",
                "/etc/x.conf:7: unknown argument \"bogus\" ignored",
            ]
        );
    }

    #[test]
    fn unreadable_conf_file_is_reported_and_ignored() {
        let parsed = parse(&["conf=/nope", "debug"], |_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not found",
            ))
        });
        assert!(parsed.settings.debug);
        assert_eq!(parsed.settings.fail, FailMode::Open);
        assert_eq!(
            parsed.warnings,
            vec!["conf=/nope: cannot be read (not found); ignored"]
        );
    }
}
