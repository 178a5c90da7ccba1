//! Pure helpers of `behaviorctl`: tables, times, error sentences, the lines of `monitor`.
//! No D-Bus here.

use std::collections::HashMap;

use behavior_ipc::admin::{MonitoredSession, Setting};
use behavior_ipc::Error;
use serde::Serialize;

/// `text` safe to print on a terminal: every control character but the line feed, and the
/// invisible characters that reorder or hide text (bidirectional overrides, zero-width
/// marks), becomes a JSON-style `\uXXXX` escape. Everything `behaviorctl` prints goes
/// through here, tables and JSON alike (in JSON text the escape means the same character,
/// so the output stays valid and equal): a value stored with `ESC [2J` prints as
/// `\u001b[2J`, never as a terminal command.
pub fn terminal_safe(text: &str) -> String {
    let hidden = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
    };
    if !text.chars().any(hidden) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hidden(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// A plain text table: a header row, then rows, columns padded to their widest cell (cells
/// made [`terminal_safe`] first, so the padding counts what is printed).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| terminal_safe(c)).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-21 07:14:42Z`; `-` for 0.
pub fn format_time(ms: i64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// `--since`: a duration back from now (`90s`, `10m`, `2h`, `7d`), a date-time in UTC
/// (`2026-11-21T07:00:00Z`, `2026-11-21 07:00`, `2026-11-21`) or Unix seconds.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    let bad = || {
        format!("--since {text:?}: use a duration (10m, 2h, 7d), a UTC date-time (2026-11-21T07:00:00Z) or Unix seconds")
    };
    if let Some(unit) = t.chars().last().filter(|c| "smhd".contains(*c)) {
        if let Ok(n) = t[..t.len() - 1].parse::<i64>() {
            let ms = match unit {
                's' => 1000,
                'm' => 60_000,
                'h' => 3_600_000,
                _ => 86_400_000,
            };
            return Ok(now_ms - n.checked_mul(ms).ok_or_else(bad)?);
        }
    }
    if let Ok(secs) = t.parse::<i64>() {
        return secs.checked_mul(1000).ok_or_else(bad);
    }
    let t = t.trim_end_matches('Z');
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm),
        None => (t, "00:00:00"),
    };
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let dp: Vec<&str> = date.split('-').collect();
    let tp: Vec<&str> = time.split(':').collect();
    if dp.len() != 3 || tp.len() < 2 || tp.len() > 3 {
        return Err(bad());
    }
    let (y, mo, d) = (num(dp[0])?, num(dp[1])?, num(dp[2])?);
    let (h, mi) = (num(tp[0])?, num(tp[1])?);
    let s = if tp.len() == 3 { num(tp[2])? } else { 0 };
    if !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || s > 60
        || h < 0
        || mi < 0
        || s < 0
    {
        return Err(bad());
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    Ok(((days * 86_400) + h * 3600 + mi * 60 + s) * 1000)
}

/// How to start the daemon, as the README says: with systemd, or by hand where systemd is
/// not running (a container), starting the system bus first when it is not there.
pub const START_HINT: &str = "start it with `systemctl start behaviord`, or where systemd is \
     not running: `[ -S /run/dbus/system_bus_socket ] || { mkdir -p /run/dbus && dbus-daemon \
     --system --fork; }; /usr/sbin/behaviord &`";

/// What `behaviorctl` says when there is no system bus to connect to.
pub fn no_bus(e: &zbus::Error) -> String {
    format!("behaviord is not running; {START_HINT} (no system bus: {e})")
}

/// One sentence for a D-Bus error `name` with message `msg` from the bus or the daemon.
/// The bus answers for a daemon that is not running (no owner, failed activation), and then
/// says how to start it instead of the bus's own words.
pub fn describe_bus_error(name: &str, msg: &str) -> String {
    let not_running = matches!(
        name,
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner"
    ) || name.starts_with("org.freedesktop.DBus.Error.Spawn.");
    if not_running {
        format!("behaviord is not running; {START_HINT} ({name}: {msg})")
    } else if name == "org.freedesktop.DBus.Error.AccessDenied" {
        format!("access denied by the bus policy (root only): {msg}")
    } else {
        format!("{name}: {msg}")
    }
}

/// One sentence for a failed call, naming what went wrong.
pub fn describe(e: &Error) -> String {
    match e {
        Error::ZBus(zbus::Error::MethodError(name, msg, _)) => {
            describe_bus_error(name.as_str(), msg.as_deref().unwrap_or(""))
        }
        Error::ZBus(e) => format!("cannot talk to behaviord: {e}"),
        Error::AccessDenied(m) => format!("access denied: {m}"),
        Error::UnknownUser(m) => format!("unknown user: {m}"),
        Error::InvalidArgument(m) => format!("invalid argument: {m}"),
        Error::NoSuchHandle(m) => format!("no such handle: {m}"),
        Error::WrongStage(m) => format!("wrong stage: {m}"),
        Error::NotEnrolled(m) => format!("not enrolled: {m}"),
        Error::LockedOut(m) => format!("locked out: {m}"),
        Error::PolicyDenied(m) => format!("denied by policy: {m}"),
        Error::Refused(m) => format!("refused: {m}"),
        Error::Remote(m) => format!("remote login: {m}"),
        Error::Storage(m) => format!("storage failure: {m}"),
        Error::Unavailable(m) => format!("unavailable: {m}"),
    }
}

/// What `behaviorctl monitor` needs of the daemon's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonitorLimits {
    /// `session.monitor`.
    pub monitor: bool,
    pub step_up: f64,
    pub logout: f64,
    /// `session.window`: keystrokes in a full window.
    pub window: u32,
}

impl MonitorLimits {
    /// From `Admin1.Settings`; an error names a missing or unreadable key (a daemon of
    /// another version).
    pub fn from_settings(settings: &[Setting]) -> Result<MonitorLimits, String> {
        fn get<T: std::str::FromStr>(settings: &[Setting], key: &str) -> Result<T, String> {
            let s = settings
                .iter()
                .find(|s| s.key == key)
                .ok_or_else(|| format!("the daemon does not report the setting {key}"))?;
            s.value
                .parse()
                .map_err(|_| format!("the daemon reports {key} = {:?}, not a value", s.value))
        }
        Ok(MonitorLimits {
            monitor: get(settings, "session.monitor")?,
            step_up: get(settings, "thresholds.step_up")?,
            logout: get(settings, "thresholds.logout")?,
            window: get(settings, "session.window")?,
        })
    }
}

/// One line of `behaviorctl monitor`: a monitored session at `time_ms`. Scores and counts
/// only, never anything typed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RiskLine {
    /// ms since the Unix epoch.
    pub time_ms: i64,
    pub session: String,
    pub user: String,
    pub seat: String,
    pub phase: String,
    /// `None` until a window was scored.
    pub risk: Option<f64>,
    /// Score of the last window (what moves the risk).
    pub last_score: Option<f64>,
    pub step_up: f64,
    pub logout: f64,
    pub window_fill: u32,
    pub window: u32,
    pub keystrokes: u64,
}

impl RiskLine {
    pub const HEADER: &'static str =
        "TIME(UTC)  SESSION   PHASE              RISK  STEP-UP  LOGOUT   LAST     WINDOW  KEYSTROKES";

    pub fn new(s: &MonitoredSession, limits: &MonitorLimits, time_ms: i64) -> RiskLine {
        let scored = |x: f64| (x >= 0.0).then_some(x);
        RiskLine {
            time_ms,
            session: s.session.clone(),
            user: s.user.clone(),
            seat: s.seat.clone(),
            phase: s.phase.clone(),
            risk: scored(s.risk),
            last_score: scored(s.last_score),
            step_up: limits.step_up,
            logout: limits.logout,
            window_fill: s.window_fill,
            window: limits.window,
            keystrokes: s.keystrokes,
        }
    }

    /// The line under [`RiskLine::HEADER`].
    pub fn human(&self) -> String {
        let score = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}"));
        let secs = self.time_ms.div_euclid(1000).rem_euclid(86_400);
        format!(
            "{:02}:{:02}:{:02}   {:<8}  {:<16} {:>6} {:>8} {:>7} {:>6} {:>10}  {}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60,
            self.session,
            self.phase,
            score(self.risk),
            format!("{:.2}", self.step_up),
            format!("{:.2}", self.logout),
            score(self.last_score),
            format!("{}/{}", self.window_fill, self.window),
            self.keystrokes
        )
    }

    /// A scored window or a change of phase or thresholds (not just more keystrokes).
    fn differs(&self, other: &RiskLine) -> bool {
        (
            &self.phase,
            self.risk,
            self.last_score,
            self.step_up,
            self.logout,
        ) != (
            &other.phase,
            other.risk,
            other.last_score,
            other.step_up,
            other.logout,
        )
    }
}

/// Which [`RiskLine`]s `behaviorctl monitor` prints, polled a few times a second: a session
/// when first seen, at every scored window or change of phase or thresholds, and at most
/// once a second while only keystrokes come in (learning progress, window filling).
#[derive(Debug, Default)]
pub struct RiskWatch {
    printed: HashMap<String, RiskLine>,
}

/// Milliseconds between two lines of a session that only typed more.
const PROGRESS_EVERY_MS: i64 = 1000;

impl RiskWatch {
    /// The lines to print now out of the sessions' current ones, and the sessions that were
    /// seen before and are gone.
    pub fn update(&mut self, now: Vec<RiskLine>) -> (Vec<RiskLine>, Vec<String>) {
        let mut gone: Vec<String> = self
            .printed
            .keys()
            .filter(|id| !now.iter().any(|l| &l.session == *id))
            .cloned()
            .collect();
        gone.sort();
        for id in &gone {
            self.printed.remove(id);
        }
        let mut print = Vec::new();
        for line in now {
            let news = match self.printed.get(&line.session) {
                None => true,
                Some(last) => {
                    last.differs(&line)
                        || ((last.keystrokes, last.window_fill)
                            != (line.keystrokes, line.window_fill)
                            && line.time_ms - last.time_ms >= PROGRESS_EVERY_MS)
                }
            };
            if news {
                self.printed.insert(line.session.clone(), line.clone());
                print.push(line);
            }
        }
        (print, gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(risk: f64, keystrokes: u64) -> MonitoredSession {
        MonitoredSession {
            session: "c1".into(),
            user: "alice".into(),
            seat: "seat0".into(),
            phase: "monitoring".into(),
            risk,
            last_score: risk,
            window_fill: 100,
            keystrokes,
        }
    }

    const LIMITS: MonitorLimits = MonitorLimits {
        monitor: true,
        step_up: 1.7,
        logout: 3.0,
        window: 100,
    };

    #[test]
    fn risk_lines_show_scores_against_the_thresholds() {
        let line = RiskLine::new(&session(1.234, 640), &LIMITS, 1_763_709_282_000);
        assert_eq!(
            line.human(),
            "07:14:42   c1        monitoring         1.23     1.70    3.00   1.23    100/100  640"
        );
        let unscored = RiskLine::new(&session(-1.0, 3), &LIMITS, 0);
        assert_eq!((unscored.risk, unscored.last_score), (None, None));
        let json = serde_json::to_value(&unscored).unwrap();
        assert_eq!(json["risk"], serde_json::Value::Null);
        assert_eq!(json["step_up"], 1.7);
        // The header's columns sit over the line's.
        let header = RiskLine::HEADER;
        let text = line.human();
        for (col, value) in [
            ("RISK", "1.23"),
            ("STEP-UP", "1.70"),
            ("LOGOUT", "3.00"),
            ("LAST", "1.23"),
            ("WINDOW", "100/100"),
        ] {
            let end = header.find(col).unwrap() + col.len();
            assert_eq!(&text[end - value.len()..end], value, "{col}");
        }
    }

    #[test]
    fn limits_come_from_the_settings() {
        let set = |k: &str, v: &str| Setting {
            key: k.into(),
            value: v.into(),
            source: "default".into(),
        };
        let mut settings = vec![
            set("session.monitor", "true"),
            set("thresholds.step_up", "1.7"),
            set("thresholds.logout", "3"),
            set("session.window", "100"),
        ];
        assert_eq!(MonitorLimits::from_settings(&settings), Ok(LIMITS));
        settings[2].value = "high".into();
        assert!(MonitorLimits::from_settings(&settings)
            .unwrap_err()
            .contains("thresholds.logout"));
        settings.remove(0);
        assert!(MonitorLimits::from_settings(&settings)
            .unwrap_err()
            .contains("session.monitor"));
    }

    #[test]
    fn the_watch_prints_scored_windows_and_progress_once_a_second() {
        let at = |risk: f64, keys: u64, t: i64| RiskLine::new(&session(risk, keys), &LIMITS, t);
        let mut w = RiskWatch::default();
        assert_eq!(w.update(vec![at(1.0, 100, 0)]).0.len(), 1, "first sight");
        assert!(
            w.update(vec![at(1.0, 100, 250)]).0.is_empty(),
            "nothing new"
        );
        assert!(
            w.update(vec![at(1.0, 105, 500)]).0.is_empty(),
            "typing, <1 s"
        );
        assert_eq!(w.update(vec![at(1.0, 108, 1000)]).0.len(), 1, "typing, 1 s");
        assert_eq!(w.update(vec![at(1.4, 110, 1250)]).0.len(), 1, "scored");
        let (print, gone) = w.update(vec![]);
        assert!(print.is_empty());
        assert_eq!(gone, ["c1"]);
        assert_eq!(w.update(vec![at(1.4, 110, 1500)]).0.len(), 1, "back");
    }

    #[test]
    fn a_daemon_that_is_not_running_is_named_with_how_to_start_it() {
        for name in [
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
            "org.freedesktop.DBus.Error.Spawn.ChildExited",
        ] {
            let text = describe_bus_error(name, "Launch helper exited with unknown return code 1");
            assert!(
                text.starts_with(
                    "behaviord is not running; start it with `systemctl start behaviord`"
                ),
                "{text}"
            );
            assert!(text.contains("/usr/sbin/behaviord &"), "{text}");
        }
        let denied = describe_bus_error("org.freedesktop.DBus.Error.AccessDenied", "no");
        assert!(
            denied.starts_with("access denied by the bus policy"),
            "{denied}"
        );
        let io = zbus::Error::InputOutput(std::sync::Arc::new(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        )));
        assert!(no_bus(&io).starts_with("behaviord is not running; start it with"));
    }

    #[test]
    fn control_characters_print_as_escapes() {
        assert_eq!(terminal_safe("login"), "login");
        assert_eq!(terminal_safe("a\nb"), "a\nb");
        assert_eq!(terminal_safe("x\u{1b}[2Jy"), "x\\u001b[2Jy");
        assert_eq!(
            terminal_safe("\u{9b}31m\u{7f}\t\r"),
            "\\u009b31m\\u007f\\u0009\\u000d"
        );
        assert_eq!(terminal_safe("ab\u{202e}cd"), "ab\\u202ecd");
        // Escaped JSON is the same JSON.
        let v = serde_json::json!({"service": "x\u{1b}]0;pwned\u{7}\u{9b}\u{85}"});
        let text = terminal_safe(&serde_json::to_string_pretty(&v).unwrap());
        assert!(text.chars().all(|c| !c.is_control() || c == '\n'), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
        // Twice is once.
        assert_eq!(
            terminal_safe(&terminal_safe("\u{1b}")),
            terminal_safe("\u{1b}")
        );
    }

    #[test]
    fn tables_escape_and_align() {
        let t = table(&["A", "B"], &[vec!["\u{1b}c".into(), "1".into()]]);
        assert_eq!(t, "A        B\n\\u001bc  1\n");
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "LONG"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONG\nxyz  1\n");
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0), "-");
        assert_eq!(format_time(1_763_709_282_000), "2025-11-21 07:14:42Z");
        assert_eq!(
            parse_since("2025-11-21T07:14:42Z", 0),
            Ok(1_763_709_282_000)
        );
        assert_eq!(parse_since("2025-11-21", 0), Ok(1_763_683_200_000));
        assert_eq!(parse_since("2025-11-21 07:14", 0), Ok(1_763_709_240_000));
        assert_eq!(parse_since("10m", 1_000_000), Ok(400_000));
        assert_eq!(parse_since("2h", 10_000_000), Ok(2_800_000));
        assert_eq!(parse_since("1700000000", 0), Ok(1_700_000_000_000));
        assert!(parse_since("yesterday", 0).is_err());
        assert!(parse_since("2025-13-01", 0).is_err());
        for ms in [86_399_000, 951_782_400_000, 4_102_444_800_000] {
            let text = format_time(ms).replace(' ', "T");
            assert_eq!(parse_since(&text, 0), Ok(ms), "{text}");
        }
    }
}
