//! The SQLite store: users, typing templates, PIN hashes, setting overrides, lockout counters
//! and the event log, in one file under the state directory.
//!
//! WAL with `synchronous=NORMAL`; numbered migrations tracked in `PRAGMA user_version`; every
//! change is one transaction ([`Store::change`]) that rolls back unless it completes, so a
//! crash leaves the old or the new state. Reads use a second, read-only connection (WAL lets
//! it read the last commit while a write is in progress), so a login's reads never wait
//! behind a transaction. Times are milliseconds since the Unix epoch, passed
//! in by the caller. The store keeps no key codes or typed text: templates are the matcher's
//! JSON of the enrollment phrase's timings, PINs argon2id PHC strings.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

/// File name of the database inside the state directory.
pub const DB_FILE: &str = "behaviord.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("database error while {context}: {source}")]
    Sql {
        context: &'static str,
        source: rusqlite::Error,
    },
    #[error("database row {table}[{key}] is corrupt: {reason}")]
    Corrupt {
        table: &'static str,
        key: String,
        reason: String,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sql { context, source }
}

/// Migrations in order; `user_version` is the number applied. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE users (
        name TEXT PRIMARY KEY NOT NULL,
        uid INTEGER NOT NULL,
        created INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE templates (
        user TEXT PRIMARY KEY NOT NULL REFERENCES users(name),
        template TEXT NOT NULL,
        enrolled_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE pins (
        user TEXT PRIMARY KEY NOT NULL REFERENCES users(name),
        phc TEXT NOT NULL,
        set_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE settings (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL,
        set_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE lockouts (
        user TEXT PRIMARY KEY NOT NULL,
        failures INTEGER NOT NULL,
        locked_until INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        name TEXT NOT NULL,
        user TEXT NOT NULL,
        source TEXT NOT NULL,
        outcome TEXT NOT NULL,
        service TEXT NOT NULL
    ) STRICT;
    CREATE INDEX events_time ON events(time);",
    // 2: free-text typing profiles of the session monitor (timings statistics as JSON).
    "CREATE TABLE profiles (
        user TEXT PRIMARY KEY NOT NULL,
        profile TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;",
    // 3: the digest of the phrase each template was enrolled for ('' for templates from
    // before: taken as the current phrase).
    "ALTER TABLE templates ADD COLUMN phrase TEXT NOT NULL DEFAULT '';",
    // 4: the login's terminal and remote host beside its service (empty in older rows).
    "ALTER TABLE events ADD COLUMN tty TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN rhost TEXT NOT NULL DEFAULT '';",
];

/// One row of the `events` table: the very record `Admin1.Events` returns.
pub type EventRow = behavior_ipc::admin::Event;

#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub user: Option<String>,
    pub name: Option<String>,
    pub since_ms: Option<i64>,
    pub after_id: Option<i64>,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateRow {
    pub json: String,
    pub enrolled_at: i64,
    pub updated_at: i64,
    /// Digest of the phrase it was enrolled for (`matching::phrase_digest`; empty: unknown,
    /// enrolled before digests were kept).
    pub phrase: String,
}

impl TemplateRow {
    /// Enrolled for a phrase other than the one whose digest is `current`.
    pub fn for_other_phrase(&self, current: &str) -> bool {
        !self.phrase.is_empty() && self.phrase != current
    }
}

/// What the store knows about one user.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UserRow {
    pub name: String,
    pub uid: i64,
    pub enrolled_at: Option<i64>,
    pub pin_set_at: Option<i64>,
    pub failures: i64,
    pub locked_until: i64,
}

pub struct Store {
    conn: Mutex<Option<Connection>>,
    reader: Mutex<Option<Connection>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed, mode 0600) the database in `state_dir` (which must exist),
    /// applies pending migrations and checks the file is sound.
    pub fn open(state_dir: &Path) -> Result<Store> {
        let path = state_dir.join(DB_FILE);
        let open_err = |reason: String| StoreError::Open {
            path: path.clone(),
            reason,
        };
        // Create the file ourselves so it is 0600 from its first byte.
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| open_err(format!("cannot create or open: {e}")))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| open_err(format!("cannot set mode 0600: {e}")))?;
        let mut conn = Connection::open(&path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| open_err(e.to_string()))?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| open_err(format!("not a usable SQLite database: {e}")))?;
        if check != "ok" {
            return Err(open_err(format!("integrity check failed: {check}")));
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| open_err(format!("cannot enable WAL: {e}")))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| open_err(e.to_string()))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| open_err(e.to_string()))?;
        migrate(&mut conn).map_err(|e| open_err(e.to_string()))?;
        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_err(format!("cannot open for reading: {e}")))?;
        reader
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Store {
            conn: Mutex::new(Some(conn)),
            reader: Mutex::new(Some(reader)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, Option<Connection>>> {
        Self::lock_open(&self.conn, &self.path)
    }

    fn lock_open<'a>(
        conn: &'a Mutex<Option<Connection>>,
        path: &Path,
    ) -> Result<MutexGuard<'a, Option<Connection>>> {
        let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                reason: "the database is closed (the daemon is stopping)".into(),
            });
        }
        Ok(guard)
    }

    /// Runs `f` in one transaction, committed only when `f` succeeds.
    pub fn change<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let mut guard = self.lock()?;
        let conn = guard.as_mut().ok_or_else(|| StoreError::Open {
            path: self.path.clone(),
            reason: "closed".into(),
        })?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql("starting a transaction"))?;
        let out = f(&Tx(&tx))?;
        tx.commit().map_err(sql("committing"))?;
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let guard = Self::lock_open(&self.reader, &self.path)?;
        match guard.as_ref() {
            Some(conn) => f(conn),
            None => Err(StoreError::Open {
                path: self.path.clone(),
                reason: "closed".into(),
            }),
        }
    }

    /// Checkpoints the WAL and closes the file; later calls fail with a clear error.
    pub fn close(&self) -> Result<()> {
        drop(self.reader.lock().unwrap_or_else(|p| p.into_inner()).take());
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(conn) = guard.take() {
            let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
            conn.close().map_err(|(_, e)| StoreError::Sql {
                context: "closing",
                source: e,
            })?;
        }
        Ok(())
    }

    pub fn template(&self, user: &str) -> Result<Option<TemplateRow>> {
        self.read(|c| {
            c.query_row(
                "SELECT template, enrolled_at, updated_at, phrase FROM templates WHERE user = ?1",
                [user],
                |r| {
                    Ok(TemplateRow {
                        json: r.get(0)?,
                        enrolled_at: r.get(1)?,
                        updated_at: r.get(2)?,
                        phrase: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| corrupt_or_sql("templates", user, "reading a template", e))
        })
    }

    pub fn pin_hash(&self, user: &str) -> Result<Option<String>> {
        self.read(|c| {
            c.query_row("SELECT phc FROM pins WHERE user = ?1", [user], |r| r.get(0))
                .optional()
                .map_err(|e| corrupt_or_sql("pins", user, "reading a PIN", e))
        })
    }

    /// The session monitor's stored profile of `user` (JSON), if any.
    pub fn profile(&self, user: &str) -> Result<Option<String>> {
        self.read(|c| {
            c.query_row(
                "SELECT profile FROM profiles WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| corrupt_or_sql("profiles", user, "reading a profile", e))
        })
    }

    /// (consecutive failures, locked until ms).
    pub fn lockout(&self, user: &str) -> Result<(i64, i64)> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT failures, locked_until FROM lockouts WHERE user = ?1",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| corrupt_or_sql("lockouts", user, "reading a lockout", e))?
            .unwrap_or((0, 0)))
        })
    }

    pub fn user(&self, name: &str) -> Result<Option<UserRow>> {
        Ok(self.users(Some(name))?.into_iter().next())
    }

    /// Users known to the store (with a template, a PIN or failures), by name.
    pub fn users(&self, only: Option<&str>) -> Result<Vec<UserRow>> {
        self.read(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT u.name, u.uid, t.enrolled_at, p.set_at,
                            COALESCE(l.failures, 0), COALESCE(l.locked_until, 0)
                     FROM users u
                     LEFT JOIN templates t ON t.user = u.name
                     LEFT JOIN pins p ON p.user = u.name
                     LEFT JOIN lockouts l ON l.user = u.name
                     WHERE (?1 IS NULL OR u.name = ?1)
                       AND (t.user IS NOT NULL OR p.user IS NOT NULL OR l.failures > 0)
                     ORDER BY u.name",
                )
                .map_err(sql("listing users"))?;
            let rows = stmt
                .query_map([only], |r| {
                    Ok(UserRow {
                        name: r.get(0)?,
                        uid: r.get(1)?,
                        enrolled_at: r.get(2)?,
                        pin_set_at: r.get(3)?,
                        failures: r.get(4)?,
                        locked_until: r.get(5)?,
                    })
                })
                .map_err(sql("listing users"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| corrupt_or_sql("users", only.unwrap_or("*"), "listing users", e))
        })
    }

    pub fn settings(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT key, value FROM settings ORDER BY key")
                .map_err(sql("reading settings"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql("reading settings"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| corrupt_or_sql("settings", "*", "reading settings", e))
        })
    }

    pub fn events(&self, q: &EventQuery) -> Result<Vec<EventRow>> {
        self.read(|c| {
            // Newest `limit` matching events, returned oldest first.
            let mut stmt = c
                .prepare(
                    "SELECT * FROM (
                       SELECT id, time, name, user, source, outcome, service, tty, rhost
                       FROM events
                       WHERE (?1 IS NULL OR user = ?1) AND (?2 IS NULL OR name = ?2)
                         AND (?3 IS NULL OR time >= ?3) AND (?4 IS NULL OR id > ?4)
                       ORDER BY id DESC LIMIT ?5)
                     ORDER BY id",
                )
                .map_err(sql("reading events"))?;
            let rows = stmt
                .query_map(
                    params![q.user, q.name, q.since_ms, q.after_id, q.limit],
                    |r| {
                        Ok(EventRow {
                            id: r.get(0)?,
                            time_ms: r.get(1)?,
                            name: r.get(2)?,
                            user: r.get(3)?,
                            source: r.get(4)?,
                            outcome: r.get(5)?,
                            service: r.get(6)?,
                            tty: r.get(7)?,
                            rhost: r.get(8)?,
                        })
                    },
                )
                .map_err(sql("reading events"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| corrupt_or_sql("events", "*", "reading events", e))
        })
    }

    /// Templates enrolled for the phrase whose digest is `phrase` (or of unknown phrase).
    pub fn templates_for_phrase(&self, phrase: &str) -> Result<i64> {
        self.read(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM templates WHERE phrase = ?1 OR phrase = ''",
                [phrase],
                |r| r.get(0),
            )
            .map_err(sql("counting templates"))
        })
    }

    /// Counts for `behaviorctl status`: (users with a template, users with a PIN, events).
    pub fn counts(&self) -> Result<(i64, i64, i64)> {
        self.read(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM templates), (SELECT COUNT(*) FROM pins),
                        (SELECT COUNT(*) FROM events)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(sql("counting"))
        })
    }
}

/// A type or conversion failure on a row is corruption of that row; anything else is SQL.
fn corrupt_or_sql(
    table: &'static str,
    key: &str,
    context: &'static str,
    e: rusqlite::Error,
) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => StoreError::Corrupt {
            table,
            key: key.to_string(),
            reason: e.to_string(),
        },
        source => StoreError::Sql { context, source },
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// The changes one transaction may make.
pub struct Tx<'a>(&'a Transaction<'a>);

impl Tx<'_> {
    fn ensure_user(&self, user: &str, uid: u32, now: i64) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO users (name, uid, created) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET uid = excluded.uid",
                params![user, uid, now],
            )
            .map_err(sql("recording a user"))?;
        Ok(())
    }

    /// Stores a new template for the phrase whose digest is `phrase` (`enrolled_at = now`),
    /// or an adapted one (`phrase: None`: `enrolled_at` and the phrase kept).
    pub fn put_template(
        &self,
        user: &str,
        uid: u32,
        json: &str,
        now: i64,
        phrase: Option<&str>,
    ) -> Result<()> {
        self.ensure_user(user, uid, now)?;
        match phrase {
            None => self.0.execute(
                "UPDATE templates SET template = ?2, updated_at = ?3 WHERE user = ?1",
                params![user, json, now],
            ),
            Some(phrase) => self.0.execute(
                "INSERT INTO templates (user, template, enrolled_at, updated_at, phrase)
                 VALUES (?1, ?2, ?3, ?3, ?4)
                 ON CONFLICT(user) DO UPDATE
                 SET template = ?2, enrolled_at = ?3, updated_at = ?3, phrase = ?4",
                params![user, json, now, phrase],
            ),
        }
        .map_err(sql("storing a template"))?;
        Ok(())
    }

    /// True when there was one.
    pub fn delete_template(&self, user: &str) -> Result<bool> {
        self.touch(
            "DELETE FROM templates WHERE user = ?1",
            user,
            "removing a template",
        )
    }

    pub fn put_pin(&self, user: &str, uid: u32, phc: &str, now: i64) -> Result<()> {
        self.ensure_user(user, uid, now)?;
        self.0
            .execute(
                "INSERT INTO pins (user, phc, set_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(user) DO UPDATE SET phc = ?2, set_at = ?3",
                params![user, phc, now],
            )
            .map_err(sql("storing a PIN"))?;
        Ok(())
    }

    pub fn delete_pin(&self, user: &str) -> Result<bool> {
        self.touch("DELETE FROM pins WHERE user = ?1", user, "removing a PIN")
    }

    pub fn put_profile(&self, user: &str, json: &str, now: i64) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO profiles (user, profile, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(user) DO UPDATE SET profile = ?2, updated_at = ?3",
                params![user, json, now],
            )
            .map_err(sql("storing a profile"))?;
        Ok(())
    }

    /// True when there was one.
    pub fn delete_profile(&self, user: &str) -> Result<bool> {
        self.touch(
            "DELETE FROM profiles WHERE user = ?1",
            user,
            "removing a profile",
        )
    }

    pub fn set_setting(&self, key: &str, value: &str, now: i64) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO settings (key, value, set_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET value = ?2, set_at = ?3",
                params![key, value, now],
            )
            .map_err(sql("storing a setting"))?;
        Ok(())
    }

    pub fn unset_setting(&self, key: &str) -> Result<bool> {
        self.touch(
            "DELETE FROM settings WHERE key = ?1",
            key,
            "removing a setting",
        )
    }

    /// Counts one failure; when `threshold` (> 0) consecutive failures are reached the user is
    /// locked until `now + lock_ms` and the counter restarts. Returns the lock end when this
    /// failure locked the user.
    pub fn record_failure(
        &self,
        user: &str,
        uid: u32,
        now: i64,
        threshold: u32,
        lock_ms: i64,
    ) -> Result<Option<i64>> {
        self.ensure_user(user, uid, now)?;
        let failures: i64 = self
            .0
            .query_row(
                "INSERT INTO lockouts (user, failures, locked_until) VALUES (?1, 1, 0)
                 ON CONFLICT(user) DO UPDATE SET failures = failures + 1
                 RETURNING failures",
                [user],
                |r| r.get(0),
            )
            .map_err(sql("counting a failure"))?;
        if threshold > 0 && failures >= i64::from(threshold) {
            let until = now.saturating_add(lock_ms);
            self.0
                .execute(
                    "UPDATE lockouts SET failures = 0, locked_until = ?2 WHERE user = ?1",
                    params![user, until],
                )
                .map_err(sql("locking a user out"))?;
            return Ok(Some(until));
        }
        Ok(None)
    }

    /// True when the user had a failure record (cleared now or already clear).
    pub fn reset_failures(&self, user: &str) -> Result<bool> {
        self.touch(
            "UPDATE lockouts SET failures = 0, locked_until = 0 WHERE user = ?1",
            user,
            "resetting failures",
        )
    }

    /// `enrolled_at` of the user's template row, read inside the transaction (a pending
    /// enrollment is committed only over the row its login began with).
    pub fn template_enrolled_at(&self, user: &str) -> Result<Option<i64>> {
        self.0
            .query_row(
                "SELECT enrolled_at FROM templates WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| corrupt_or_sql("templates", user, "reading a template", e))
    }

    /// Whether the user has a PIN, read inside the transaction.
    pub fn has_pin(&self, user: &str) -> Result<bool> {
        self.0
            .query_row("SELECT 1 FROM pins WHERE user = ?1", [user], |_| Ok(()))
            .optional()
            .map(|row| row.is_some())
            .map_err(sql("reading a PIN"))
    }

    /// Runs a statement on the rows of one key; true when it changed any.
    fn touch(&self, statement: &str, key: &str, context: &'static str) -> Result<bool> {
        let n = self.0.execute(statement, [key]).map_err(sql(context))?;
        Ok(n > 0)
    }

    /// Stores `row` (its `id` is ignored) and returns the new id.
    pub fn insert_event(&self, row: &EventRow) -> Result<i64> {
        self.0
            .execute(
                "INSERT INTO events (time, name, user, source, outcome, service, tty, rhost)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    row.time_ms,
                    row.name,
                    row.user,
                    row.source,
                    row.outcome,
                    row.service,
                    row.tty,
                    row.rhost
                ],
            )
            .map_err(sql("recording an event"))?;
        Ok(self.0.last_insert_rowid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    #[test]
    fn file_is_private_and_migrated() {
        let (dir, s) = store();
        let meta = std::fs::metadata(dir.path().join(DB_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let v: i64 = s
            .read(|c| {
                Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))
                    .unwrap())
            })
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        let mode: String = s
            .read(|c| {
                Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .unwrap())
            })
            .unwrap();
        assert_eq!(mode, "wal");
        drop(s);
        // Reopening applies nothing twice.
        Store::open(dir.path()).unwrap();
    }

    #[test]
    fn templates_pins_and_users() {
        let (_d, s) = store();
        s.change(|tx| tx.put_template("ann", 1000, "{}", 5, Some("p1")))
            .unwrap();
        s.change(|tx| tx.put_template("ann", 1000, "{\"a\":1}", 9, None))
            .unwrap();
        let t = s.template("ann").unwrap().unwrap();
        assert_eq!(
            (
                t.json.as_str(),
                t.enrolled_at,
                t.updated_at,
                t.phrase.as_str()
            ),
            ("{\"a\":1}", 5, 9, "p1"),
            "adapting keeps the enrollment time and phrase"
        );
        assert!(t.for_other_phrase("p2") && !t.for_other_phrase("p1"));
        assert_eq!(s.templates_for_phrase("p1").unwrap(), 1);
        assert_eq!(s.templates_for_phrase("p2").unwrap(), 0);
        s.change(|tx| tx.put_pin("bob", 1001, "$argon2id$x", 7))
            .unwrap();
        let users = s.users(None).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].enrolled_at, Some(5));
        assert_eq!(users[1].pin_set_at, Some(7));
        assert!(s.change(|tx| tx.delete_pin("bob")).unwrap());
        assert!(!s.change(|tx| tx.delete_pin("bob")).unwrap());
        assert_eq!(s.users(None).unwrap().len(), 1);
    }

    #[test]
    fn profiles() {
        let (_d, s) = store();
        assert_eq!(s.profile("ann").unwrap(), None);
        s.change(|tx| tx.put_profile("ann", "{}", 1)).unwrap();
        s.change(|tx| tx.put_profile("ann", "{\"w\":1}", 2))
            .unwrap();
        assert_eq!(s.profile("ann").unwrap().as_deref(), Some("{\"w\":1}"));
        assert!(s.change(|tx| tx.delete_profile("ann")).unwrap());
        assert_eq!(s.profile("ann").unwrap(), None);
        assert!(!s.change(|tx| tx.delete_profile("ann")).unwrap());
    }

    #[test]
    fn a_failed_change_leaves_nothing() {
        let (_d, s) = store();
        let r: Result<()> = s.change(|tx| {
            tx.put_pin("ann", 1, "x", 1)?;
            Err(StoreError::Corrupt {
                table: "t",
                key: "k".into(),
                reason: "test".into(),
            })
        });
        assert!(r.is_err());
        assert_eq!(s.pin_hash("ann").unwrap(), None);
    }

    #[test]
    fn lockout_counts_and_locks() {
        let (_d, s) = store();
        for i in 0..2 {
            assert_eq!(
                s.change(|tx| tx.record_failure("ann", 1, 100 + i, 3, 1000))
                    .unwrap(),
                None
            );
        }
        assert_eq!(
            s.change(|tx| tx.record_failure("ann", 1, 200, 3, 1000))
                .unwrap(),
            Some(1200)
        );
        assert_eq!(s.lockout("ann").unwrap(), (0, 1200));
        assert!(s.change(|tx| tx.reset_failures("ann")).unwrap());
        assert_eq!(s.lockout("ann").unwrap(), (0, 0));
        assert!(
            !s.change(|tx| tx.reset_failures("bob")).unwrap(),
            "no record"
        );
    }

    fn event(time_ms: i64, name: &str, user: &str, source: &str, service: &str) -> EventRow {
        EventRow {
            id: 0,
            time_ms,
            name: name.into(),
            user: user.into(),
            source: source.into(),
            outcome: "success".into(),
            service: service.into(),
            tty: String::new(),
            rhost: String::new(),
        }
    }

    #[test]
    fn events_filter() {
        let (_d, s) = store();
        s.change(|tx| tx.insert_event(&event(10, "E_A", "ann", "pam", "login")))
            .unwrap();
        s.change(|tx| tx.insert_event(&event(20, "E_B", "bob", "pam", "login")))
            .unwrap();
        s.change(|tx| tx.insert_event(&event(30, "E_A", "bob", "cli", "")))
            .unwrap();
        let all = |q: EventQuery| s.events(&EventQuery { limit: 100, ..q }).unwrap();
        assert_eq!(all(EventQuery::default()).len(), 3);
        assert_eq!(
            all(EventQuery {
                user: Some("bob".into()),
                ..Default::default()
            })
            .len(),
            2
        );
        assert_eq!(
            all(EventQuery {
                name: Some("E_A".into()),
                ..Default::default()
            })
            .len(),
            2
        );
        assert_eq!(
            all(EventQuery {
                since_ms: Some(20),
                ..Default::default()
            })
            .len(),
            2
        );
        let last = s
            .events(&EventQuery {
                limit: 1,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(last[0].time_ms, 30);
    }

    #[test]
    fn events_keep_tty_and_rhost_and_old_rows_read_empty() {
        let dir = tempfile::tempdir().unwrap();
        // A database of schema 2 with one event, as an older daemon left it.
        {
            let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
            for step in &MIGRATIONS[..2] {
                c.execute_batch(step).unwrap();
            }
            c.pragma_update(None, "user_version", 2).unwrap();
            c.execute(
                "INSERT INTO events (time, name, user, source, outcome, service)
                 VALUES (1, 'E_A', 'ann', 'pam', 'success', 'login')",
                [],
            )
            .unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let row = EventRow {
            tty: "pts/3".into(),
            rhost: "10.0.0.7".into(),
            ..event(2, "E_B", "bob", "pam", "sshd")
        };
        s.change(|tx| tx.insert_event(&row)).unwrap();
        let rows = s
            .events(&EventQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!((rows[0].tty.as_str(), rows[0].rhost.as_str()), ("", ""));
        assert_eq!(
            (rows[1].tty.as_str(), rows[1].rhost.as_str()),
            ("pts/3", "10.0.0.7")
        );
    }

    #[test]
    fn corrupt_rows_and_files_are_named() {
        let (dir, s) = store();
        // Rows are opaque to the store (the service names a template it cannot parse).
        s.change(|tx| tx.put_template("ann", 1, "not json", 1, Some("p1")))
            .unwrap();
        assert_eq!(s.template("ann").unwrap().unwrap().json, "not json");
        drop(s);
        std::fs::write(dir.path().join(DB_FILE), b"garbage garbage garbage garbage").unwrap();
        let _ = std::fs::remove_file(dir.path().join("behaviord.db-wal"));
        let _ = std::fs::remove_file(dir.path().join("behaviord.db-shm"));
        let e = Store::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("behaviord.db"), "{e}");
    }

    #[test]
    fn closed_store_refuses() {
        let (_d, s) = store();
        s.close().unwrap();
        assert!(s.template("ann").is_err());
        assert!(s.change(|tx| tx.put_pin("a", 1, "x", 1)).is_err());
    }
}
