//! `behaviorctl`: the admin and user command line of behaviord (product.md "behaviorctl").
//!
//! Talks to the daemon over the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured). Human
//! output is a table; `--json` prints JSON for scripts. Errors name what went wrong and exit
//! with status 1.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use behavior_ipc::admin::{
    AdminProxyBlocking, EventFilter, UserInfo, MONITORING_OFF_BY_SETTING, MONITORING_ON,
};
use behavior_ipc::user::UserProxyBlocking;
use behavior_ipc::Error;
use behaviord::ctl::{
    describe, format_time, no_bus, parse_since, table, terminal_safe, MonitorLimits, RiskLine,
    RiskWatch,
};
use behaviord::evaluate::{self, EvaluateArgs};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use zeroize::Zeroizing;

// Every line behaviorctl prints goes through `terminal_safe`: user names, services, messages
// and values come from the daemon and its database, and must never reach a terminal as
// escape sequences.
macro_rules! say {
    () => { println!() };
    ($($t:tt)*) => { println!("{}", terminal_safe(&format!($($t)*))) };
}
macro_rules! put {
    ($($t:tt)*) => { print!("{}", terminal_safe(&format!($($t)*))) };
}
macro_rules! note {
    ($($t:tt)*) => { eprintln!("{}", terminal_safe(&format!($($t)*))) };
}

#[derive(Parser)]
#[command(
    version,
    about = "Administer behaviord (keystroke-dynamics authentication)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Copy)]
struct Out {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// The daemon's state: version, database, counts.
    Status(Out),
    /// Users with a typing pattern, a PIN or failures.
    Users(Out),
    /// One user's enrollment, PIN and lockout state.
    Show {
        user: String,
        #[command(flatten)]
        out: Out,
    },
    /// Remove a user's typing pattern (they enroll again at their next login, if enabled).
    RemovePattern { user: String },
    /// Remove a user's PIN.
    RemovePin { user: String },
    /// Set USER's PIN (root), or change your own PIN (no USER: asks for the current one).
    /// Reads from the terminal without echo, or lines from standard input for scripts.
    SetPin { user: Option<String> },
    /// Clear a user's failure counter and lockout.
    ResetLockout { user: String },
    /// Audit events, oldest first.
    Events {
        #[arg(long)]
        user: Option<String>,
        /// Event name, e.g. E_USER_PIN_FAILED.
        #[arg(long)]
        name: Option<String>,
        /// 10m, 2h, 7d, a UTC date-time (2026-11-21T07:00:00Z) or Unix seconds.
        #[arg(long)]
        since: Option<String>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Keep printing new events as they are recorded.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        out: Out,
    },
    /// Every setting, its value and where it comes from (default, file, override).
    Settings(Out),
    /// Override a setting at run time (kept in the database, wins over the file).
    Set {
        key: String,
        value: String,
        /// Also where it makes enrolled users enroll again (a new `phrase`).
        #[arg(long)]
        force: bool,
    },
    /// Drop a run-time override.
    Unset { key: String },
    /// The journeys in effect: rules and the default.
    Policy(Out),
    /// Live risk of USER's monitored sessions, for tuning thresholds: a line per scored
    /// window (at most four a second), and once a second while only keystrokes come in.
    /// Waits while USER has no monitored session; ends on Ctrl-C or when standard input or
    /// output closes.
    Monitor {
        user: String,
        #[command(flatten)]
        out: Out,
    },
    /// Your own enrollment and PIN state (any user).
    Me(Out),
    /// Try the matcher on your own typing: type your phrase when asked; nothing is counted
    /// or stored.
    Try(Out),
    /// Offline accuracy of the matcher on a sample file (no daemon, no root).
    Evaluate(EvaluateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            note!("behaviorctl: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn connect() -> Result<zbus::blocking::Connection, String> {
    zbus::blocking::Connection::system().map_err(|e| no_bus(&e))
}

fn admin(conn: &zbus::blocking::Connection) -> Result<AdminProxyBlocking<'_>, String> {
    AdminProxyBlocking::new(conn).map_err(|e| describe(&Error::ZBus(e)))
}

fn print_json<T: Serialize>(value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    say!("{text}");
    Ok(())
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn run(cli: Cli) -> Result<(), String> {
    if let Command::Evaluate(args) = &cli.command {
        return evaluate::run(args).map_err(|e| e.to_string());
    }
    let d = |e: Error| describe(&e);
    let conn = connect()?;
    match cli.command {
        Command::Evaluate(_) => {}
        Command::Status(out) => {
            let s = admin(&conn)?.status().map_err(d)?;
            if out.json {
                return print_json(&s);
            }
            let rows = vec![
                vec!["version".into(), s.version],
                vec!["started".into(), format_time(s.started_at_ms)],
                vec!["config".into(), s.config_path],
                vec!["database".into(), s.database],
                vec!["users enrolled".into(), s.users_enrolled.to_string()],
                vec!["users with a PIN".into(), s.users_with_pin.to_string()],
                vec!["events".into(), s.events.to_string()],
                vec![
                    "authentications in progress".into(),
                    s.active_handles.to_string(),
                ],
                vec!["test input".into(), yes_no(s.test_input)],
                vec!["keyboards".into(), s.keyboards.to_string()],
                vec!["syslog connected".into(), yes_no(s.syslog_connected)],
                vec!["syslog lines dropped".into(), s.syslog_dropped.to_string()],
                vec!["session monitoring".into(), s.monitoring.clone()],
                vec!["monitored sessions".into(), s.sessions.len().to_string()],
            ];
            put!("{}", table(&["STATUS", "VALUE"], &rows));
            if !s.sessions.is_empty() {
                let rows: Vec<Vec<String>> = s
                    .sessions
                    .iter()
                    .map(|m| {
                        vec![
                            m.session.clone(),
                            m.user.clone(),
                            m.seat.clone(),
                            m.phase.clone(),
                            if m.risk < 0.0 {
                                "-".into()
                            } else {
                                format!("{:.2}", m.risk)
                            },
                            m.keystrokes.to_string(),
                        ]
                    })
                    .collect();
                say!();
                put!(
                    "{}",
                    table(
                        &["SESSION", "USER", "SEAT", "PHASE", "RISK", "KEYSTROKES"],
                        &rows
                    )
                );
            }
        }
        Command::Users(out) => {
            let users = admin(&conn)?.users().map_err(d)?;
            if out.json {
                return print_json(&users);
            }
            print_users(&users);
        }
        Command::Show { user, out } => {
            let u = admin(&conn)?.show_user(&user).map_err(d)?;
            if out.json {
                return print_json(&u);
            }
            print_users(&[u]);
        }
        Command::RemovePattern { user } => {
            admin(&conn)?.remove_pattern(&user).map_err(d)?;
            say!("removed the typing pattern of {user}");
        }
        Command::RemovePin { user } => {
            admin(&conn)?.remove_pin(&user).map_err(d)?;
            say!("removed the PIN of {user}");
        }
        Command::ResetLockout { user } => {
            admin(&conn)?.reset_lockout(&user).map_err(d)?;
            say!("cleared the failures and lockout of {user}");
        }
        Command::SetPin { user: Some(user) } => {
            let pin = read_new_pin()?;
            admin(&conn)?.set_pin(&user, &pin).map_err(d)?;
            say!("set the PIN of {user}");
        }
        Command::SetPin { user: None } => {
            let me = UserProxyBlocking::new(&conn).map_err(|e| d(Error::ZBus(e)))?;
            let current = read_secret("Current PIN: ")?;
            let new = read_new_pin()?;
            me.change_pin(&current, &new).map_err(d)?;
            say!("changed your PIN");
        }
        Command::Events {
            user,
            name,
            since,
            limit,
            follow,
            out,
        } => {
            let now = behaviord::service::now_ms();
            let since_ms = since
                .map(|s| parse_since(&s, now))
                .transpose()?
                .unwrap_or(0);
            let filter = EventFilter {
                user: user.unwrap_or_default(),
                name: name.unwrap_or_default(),
                since_ms,
                after_id: 0,
                limit,
            };
            let a = admin(&conn)?;
            // Subscribe before reading the backlog so nothing falls between the two.
            let stream = if follow {
                Some(a.receive_event_logged().map_err(|e| d(Error::ZBus(e)))?)
            } else {
                None
            };
            let events = a.events(&filter).map_err(d)?;
            let mut last = events.last().map_or(0, |e| e.id);
            if out.json {
                if follow {
                    for e in &events {
                        say!("{}", serde_json::to_string(e).map_err(|e| e.to_string())?);
                    }
                } else {
                    print_json(&events)?;
                }
            } else {
                let rows: Vec<Vec<String>> = events.iter().map(event_row).collect();
                put!("{}", table(&EVENT_HEADERS, &rows));
            }
            if let Some(stream) = stream {
                std::io::stdout().flush().map_err(|e| e.to_string())?;
                for sig in stream {
                    let Ok(args) = sig.args() else { continue };
                    let e = args.event;
                    let wanted = e.id > last
                        && (filter.user.is_empty() || filter.user == e.user)
                        && (filter.name.is_empty() || filter.name == e.name)
                        && e.time_ms >= filter.since_ms;
                    if !wanted {
                        continue;
                    }
                    last = e.id;
                    if out.json {
                        say!("{}", serde_json::to_string(&e).map_err(|e| e.to_string())?);
                    } else {
                        say!(
                            "{}",
                            table(&EVENT_HEADERS, &[event_row(&e)])
                                .lines()
                                .nth(1)
                                .unwrap_or("")
                        );
                    }
                    std::io::stdout().flush().map_err(|e| e.to_string())?;
                }
                return Err("the daemon went away".into());
            }
        }
        Command::Settings(out) => {
            let a = admin(&conn)?;
            let settings = a.settings().map_err(d)?;
            if out.json {
                return print_json(&settings);
            }
            let rows: Vec<Vec<String>> = settings
                .into_iter()
                .map(|s| vec![s.key, s.value, s.source])
                .collect();
            put!("{}", table(&["KEY", "VALUE", "SOURCE"], &rows));
            // session.monitor says what is wanted; say so when it is not what runs.
            let monitoring = a.status().map_err(d)?.monitoring;
            if monitoring != MONITORING_ON {
                note!("behaviorctl: session monitoring is {monitoring}");
            }
        }
        Command::Set { key, value, force } => {
            let admin = admin(&conn)?;
            if force {
                admin.set_forced(&key, &value).map_err(d)?;
            } else {
                admin.set(&key, &value).map_err(d)?;
            }
            say!("{key} = {value}");
        }
        Command::Unset { key } => {
            admin(&conn)?.unset(&key).map_err(d)?;
            say!("{key}: override removed");
        }
        Command::Policy(out) => {
            let p = admin(&conn)?.policy().map_err(d)?;
            if out.json {
                return print_json(&p);
            }
            let any = |l: &[String]| {
                if l.is_empty() {
                    "*".to_string()
                } else {
                    l.join(",")
                }
            };
            let mut rows: Vec<Vec<String>> = p
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    vec![
                        (i + 1).to_string(),
                        any(&r.users),
                        any(&r.groups),
                        any(&r.services),
                        any(&r.ttys),
                        r.journey.clone(),
                    ]
                })
                .collect();
            rows.push(vec![
                "default".into(),
                "*".into(),
                "*".into(),
                "*".into(),
                "*".into(),
                p.default_journey.clone(),
            ]);
            put!(
                "{}",
                table(
                    &["RULE", "USERS", "GROUPS", "SERVICES", "TTYS", "JOURNEY"],
                    &rows
                )
            );
            say!(
                "daemon unreachable: fail {}; remote logins: {}",
                p.fail,
                if p.deny_remote {
                    "denied"
                } else {
                    "fall through"
                }
            );
        }
        Command::Monitor { user, out } => return monitor(&conn, &user, out),
        Command::Try(out) => {
            let me = UserProxyBlocking::new(&conn).map_err(|e| d(Error::ZBus(e)))?;
            let trial = me.begin_trial().map_err(d)?;
            note!("Type the phrase: {}", trial.phrase);
            let mut line = Zeroizing::new(String::new());
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            let typed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string());
            let r = me.submit_trial(&trial.handle, &typed).map_err(d)?;
            if out.json {
                return print_json(&r);
            }
            say!("{}", r.message);
            if r.scored {
                say!(
                    "score {:.2} against threshold {:.2} ({})",
                    r.score,
                    r.threshold,
                    if r.accepted { "accepted" } else { "rejected" }
                );
            }
        }
        Command::Me(out) => {
            let me = UserProxyBlocking::new(&conn).map_err(|e| d(Error::ZBus(e)))?;
            let s = me.status().map_err(d)?;
            if out.json {
                return print_json(&s);
            }
            let rows = vec![
                vec!["user".into(), s.user],
                vec!["typing pattern".into(), yes_no(s.enrolled)],
                vec!["enrolled".into(), format_time(s.enrolled_at_ms)],
                vec!["expires".into(), format_time(s.template_expires_ms)],
                vec!["PIN".into(), yes_no(s.pin_set)],
                vec!["locked until".into(), format_time(s.locked_until_ms)],
            ];
            put!("{}", table(&["", ""], &rows));
        }
    }
    Ok(())
}

/// How often `monitor` asks the daemon (`Admin1.Status` and `Settings`).
const MONITOR_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// `behaviorctl monitor USER`: polls the daemon and prints what [`RiskWatch`] selects.
/// Exits with an error when USER's sessions cannot be monitored (unknown user, no typing
/// pattern, monitoring off), which waiting would not change; waits, with a note on standard
/// error, while USER simply has no monitored session. Ends successfully when standard input
/// reaches its end or standard output is closed.
fn monitor(conn: &zbus::blocking::Connection, user: &str, out: Out) -> Result<(), String> {
    let d = |e: Error| describe(&e);
    let a = admin(conn)?;
    // Whatever rules out watching is said before anything is printed.
    a.show_user(user).map_err(d)?;
    unmonitorable(&a, user)?;
    let stdin_closed = {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            // Read only to notice the end; whatever comes is dropped unseen.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = tx.send(());
        });
        rx
    };
    let mut stdout = std::io::stdout().lock();
    if !out.json && writeln!(stdout, "{}", terminal_safe(RiskLine::HEADER)).is_err() {
        return Ok(());
    }
    let mut watch = RiskWatch::default();
    let mut waiting = false;
    loop {
        let limits = MonitorLimits::from_settings(&a.settings().map_err(d)?)?;
        let status = a.status().map_err(d)?;
        let now = behaviord::service::now_ms();
        let lines: Vec<RiskLine> = status
            .sessions
            .iter()
            .filter(|s| s.user == user)
            .map(|s| RiskLine::new(s, &limits, now))
            .collect();
        if lines.is_empty() {
            unmonitorable(&a, user)?;
            if !waiting {
                note!("behaviorctl: {user} has no monitored session now; waiting for one (Ctrl-C to stop)");
            }
        }
        waiting = lines.is_empty();
        let (print, gone) = watch.update(lines);
        for id in gone {
            note!("behaviorctl: session {id} of {user} is no longer monitored");
        }
        for line in print {
            let text = if out.json {
                serde_json::to_string(&line).map_err(|e| e.to_string())?
            } else {
                line.human()
            };
            if writeln!(stdout, "{}", terminal_safe(&text))
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return Ok(());
            }
        }
        match stdin_closed.recv_timeout(MONITOR_POLL) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return Ok(()),
        }
    }
}

/// Why `user`'s sessions cannot be monitored now, which waiting would not change: the
/// monitor is off (by setting, or without logind) or the user has no typing pattern.
fn unmonitorable(a: &AdminProxyBlocking<'_>, user: &str) -> Result<(), String> {
    let d = |e: Error| describe(&e);
    let monitoring = a.status().map_err(d)?.monitoring;
    if monitoring == MONITORING_OFF_BY_SETTING {
        return Err("session monitoring is off (session.monitor = false); \
             `behaviorctl set session.monitor true` turns it on"
            .into());
    }
    if monitoring != MONITORING_ON {
        return Err(format!("session monitoring is {monitoring}"));
    }
    if !a.show_user(user).map_err(d)?.enrolled {
        return Err(format!(
            "{user} has no typing pattern: only enrolled users' sessions are monitored"
        ));
    }
    Ok(())
}

const EVENT_HEADERS: [&str; 8] = [
    "TIME", "EVENT", "USER", "OUTCOME", "SERVICE", "TTY", "RHOST", "SOURCE",
];

fn event_row(e: &behavior_ipc::admin::Event) -> Vec<String> {
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    vec![
        format_time(e.time_ms),
        e.name.clone(),
        dash(&e.user),
        dash(&e.outcome),
        dash(&e.service),
        dash(&e.tty),
        dash(&e.rhost),
        dash(&e.source),
    ]
}

fn print_users(users: &[UserInfo]) {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                u.uid.to_string(),
                if u.phrase_changed {
                    "re-enroll".to_string()
                } else {
                    yes_no(u.enrolled)
                },
                format_time(u.enrolled_at_ms),
                format_time(u.template_expires_ms),
                yes_no(u.pin_set),
                u.failures.to_string(),
                format_time(u.locked_until_ms),
            ]
        })
        .collect();
    put!(
        "{}",
        table(
            &[
                "USER",
                "UID",
                "PATTERN",
                "ENROLLED",
                "EXPIRES",
                "PIN",
                "FAILURES",
                "LOCKED UNTIL"
            ],
            &rows
        )
    );
}

/// A new PIN: asked twice on a terminal, one line on standard input otherwise.
fn read_new_pin() -> Result<Zeroizing<String>, String> {
    let pin = read_secret("New PIN: ")?;
    if std::io::stdin().is_terminal() {
        let again = read_secret("Repeat the new PIN: ")?;
        if *again != *pin {
            return Err("the two PINs differ; nothing was changed".into());
        }
    }
    Ok(pin)
}

/// One secret line: prompted without echo on a terminal, read from standard input otherwise.
fn read_secret(prompt: &str) -> Result<Zeroizing<String>, String> {
    let stdin = std::io::stdin();
    let mut line = Zeroizing::new(String::new());
    if stdin.is_terminal() {
        eprint!("{}", terminal_safe(prompt));
        let _echo = EchoOff::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
    } else {
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
    }
    if line.is_empty() {
        return Err(format!(
            "no input for \"{}\"",
            prompt.trim_end_matches([':', ' '])
        ));
    }
    let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string());
    Ok(trimmed)
}

/// Terminal echo off while alive (standard input is a terminal).
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: termios is plain data; tcgetattr fills it or fails, and we only use it on
        // success. fd 0 is our standard input.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return EchoOff(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            t.c_lflag |= libc::ECHONL;
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restores the attributes tcgetattr returned for the same fd.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}
