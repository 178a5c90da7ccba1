//! Pure helpers of `behaviorctl`: tables, times, error sentences. No D-Bus here.

use behavior_ipc::Error;

/// A plain text table: a header row, then rows, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
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

/// One sentence for a failed call, naming what went wrong.
pub fn describe(e: &Error) -> String {
    match e {
        Error::ZBus(zbus::Error::MethodError(name, msg, _)) => {
            let msg = msg.as_deref().unwrap_or("");
            if name.as_str() == "org.freedesktop.DBus.Error.AccessDenied" {
                format!("access denied by the bus policy (root only): {msg}")
            } else if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown" {
                "behaviord is not running (org.behaviord.Behavior1 is not on the system bus)".into()
            } else {
                format!("{name}: {msg}")
            }
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
        Error::Storage(m) => format!("storage failure: {m}"),
        Error::Unavailable(m) => format!("unavailable: {m}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
