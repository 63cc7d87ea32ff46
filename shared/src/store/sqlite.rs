//! The embedded store: SQLite through `rusqlite`, for running on one machine with no cloud.
//! It keeps every promise of the DynamoDB store: a write that must be atomic runs in one
//! `BEGIN IMMEDIATE` transaction (SQLite serializes writers, so a check and the write that
//! depends on it cannot interleave with another writer), unique fields have unique indexes,
//! and expired rows read as absent whether or not they have been cleaned up.
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool behind one connection.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params};

use super::ids::IdBlocks;
use super::{
    AppKey, AppKeys, ConsoleSession, ContactChange, CounterPolicy, CounterState, Counters, Customer, Customers,
    Deliveries, DeliveryOutcome, DeliveryOutcomes, DeliveryState, EventPage, History, Merchant, Merchants, NewCustomer,
    OtpEffect, OtpRecord, Otps, PinAttempt, PinCondition, PinState, Pins, Reservation, SecurityEvent, Sequence,
    Sessions, Setup, StoreError, StoreResult, Suppression, Template, Templates, UniqueField,
};
use crate::domain::otp::OtpPurpose;
use crate::domain::rules::{self, Counted};

mod operator;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS merchants (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY, merchant_id INTEGER NOT NULL REFERENCES merchants(id), expires_at INTEGER);
CREATE INDEX IF NOT EXISTS api_keys_merchant ON api_keys(merchant_id);
CREATE TABLE IF NOT EXISTS customers (
    merchant_id INTEGER NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL,
    email TEXT, mobile TEXT, member_id TEXT, facebook_id TEXT, password_hash TEXT,
    profile TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL,
    email_proven_at INTEGER, key_generation INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (merchant_id, id));
CREATE UNIQUE INDEX IF NOT EXISTS customers_email ON customers(merchant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS customers_mobile ON customers(merchant_id, mobile) WHERE mobile IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS customers_member_id ON customers(merchant_id, member_id) WHERE member_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS customers_facebook_id ON customers(merchant_id, facebook_id)
    WHERE facebook_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pins (
    merchant_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, pin_hash TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0, failures_expire_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (merchant_id, customer_id));
CREATE TABLE IF NOT EXISTS otps (
    merchant_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, purpose TEXT NOT NULL,
    otp_hash TEXT NOT NULL, expires_at INTEGER NOT NULL, tries INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, customer_id, purpose));
CREATE TABLE IF NOT EXISTS app_keys (
    hash TEXT PRIMARY KEY, merchant_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
    gcm_id TEXT, created_at INTEGER NOT NULL, generation INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS templates (
    merchant_id INTEGER NOT NULL, code TEXT NOT NULL, subject TEXT, text TEXT, html TEXT, sms TEXT,
    updated_at INTEGER NOT NULL, PRIMARY KEY (merchant_id, code));
CREATE TABLE IF NOT EXISTS deliveries (event_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS security_events (
    merchant_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (merchant_id, customer_id, id));
CREATE TABLE IF NOT EXISTS delivery_states (
    merchant_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, last TEXT NOT NULL, last_at INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, customer_id));
CREATE TABLE IF NOT EXISTS suppressions (
    merchant_id INTEGER NOT NULL, customer_id INTEGER NOT NULL, channel TEXT NOT NULL, suppression TEXT NOT NULL,
    PRIMARY KEY (merchant_id, customer_id, channel));
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash TEXT PRIMARY KEY, merchant_id INTEGER NOT NULL, csrf_token TEXT NOT NULL, expires_at INTEGER NOT NULL);
";

/// Columns added after the first release: `init` adds them to a database made before.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("customers", "email_proven_at", "INTEGER"),
    ("customers", "key_generation", "INTEGER NOT NULL DEFAULT 0"),
    ("app_keys", "generation", "INTEGER NOT NULL DEFAULT 0"),
    // A database made before keys could expire (rotation with a grace period).
    ("api_keys", "expires_at", "INTEGER"),
];

const CUSTOMER_COLUMNS: &str = "id, merchant_id, name, email, mobile, member_id, facebook_id, password_hash, profile, \
                                created_at, email_proven_at, key_generation";

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// The ID blocks this instance reserved (shared by its clones).
    ids: Arc<IdBlocks>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<SqliteStore> {
        let conn = Connection::open(path).map_err(map_error)?;
        // Another process (the CLI beside the server) may hold the write lock for a moment.
        conn.busy_timeout(Duration::from_secs(5)).map_err(map_error)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(map_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(map_error)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(map_error)?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), ids: Arc::new(IdBlocks::default()) })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A poisoned lock only means another call panicked; the connection is still sound.
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("sqlite task failed: {e}")))?
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction, committed when `f` succeeds.
    async fn atomically<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_error)?;
            let value = f(&tx)?;
            tx.commit().map_err(map_error)?;
            Ok(value)
        })
        .await
    }
}

fn map_error(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!("sqlite: {error}"))
        }
        _ => StoreError::Internal(format!("sqlite: {error}")),
    }
}

fn to_i64(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Internal(format!("{value} does not fit in SQLite")))
}

fn to_u64(value: i64) -> rusqlite::Result<u64> {
    u64::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, value))
}

fn to_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// A customer's values in the order of `CUSTOMER_COLUMNS`, for an insert.
fn customer_row(customer: &Customer) -> StoreResult<impl rusqlite::Params + '_> {
    let profile = serde_json::to_string(&customer.profile).map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok((
        to_i64(customer.id)?,
        to_i64(customer.merchant_id)?,
        &customer.name,
        &customer.email,
        &customer.mobile,
        &customer.member_id,
        &customer.facebook_id,
        &customer.password_hash,
        profile,
        customer.created_at,
        customer.email_proven_at,
        i64::from(customer.key_generation),
    ))
}

fn customer_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Customer> {
    let profile: String = row.get(8)?;
    Ok(Customer {
        id: to_u64(row.get(0)?)?,
        merchant_id: to_u64(row.get(1)?)?,
        name: row.get(2)?,
        email: row.get(3)?,
        mobile: row.get(4)?,
        member_id: row.get(5)?,
        facebook_id: row.get(6)?,
        password_hash: row.get(7)?,
        profile: serde_json::from_str(&profile).unwrap_or_default(),
        created_at: row.get(9)?,
        email_proven_at: row.get(10)?,
        key_generation: to_u32(row.get(11)?),
    })
}

/// Moves `sequence` on by `size` in one statement (SQLite serializes writers, so no other
/// instance on the file gets any ID of the block) and answers its new value, the block's last ID.
fn reserve_ids(conn: &Connection, sequence: Sequence, size: u64) -> StoreResult<u64> {
    let last: i64 = conn
        .query_row(
            "INSERT INTO sequences (name, last) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET last = last + excluded.last RETURNING last",
            params![sequence.name(), to_i64(size)?],
            |row| row.get(0),
        )
        .map_err(map_error)?;
    to_u64(last).map_err(map_error)
}

fn unique_column(field: UniqueField) -> &'static str {
    match field {
        UniqueField::Email => "email",
        UniqueField::Mobile => "mobile",
        UniqueField::MemberId => "member_id",
        UniqueField::FacebookId => "facebook_id",
    }
}

fn exists(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<bool> {
    Ok(conn.query_row(sql, params, |_| Ok(())).optional().map_err(map_error)?.is_some())
}

fn customer_exists(conn: &Connection, merchant_id: i64, id: u64) -> StoreResult<bool> {
    exists(conn, "SELECT 1 FROM customers WHERE merchant_id = ?1 AND id = ?2", params![merchant_id, to_i64(id)?])
}

/// The PIN row with zero failures, replacing any earlier one.
fn write_pin(conn: &Connection, m: i64, c: i64, pin_hash: &str) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO pins (merchant_id, customer_id, pin_hash, failures, failures_expire_at) VALUES (?1, ?2, ?3, 0, 0)
         ON CONFLICT(merchant_id, customer_id)
         DO UPDATE SET pin_hash = excluded.pin_hash, failures = 0, failures_expire_at = 0",
        params![m, c, pin_hash],
    )
    .map_err(map_error)?;
    Ok(())
}

fn delete_password_resets(conn: &Connection, m: i64, c: i64) -> StoreResult<()> {
    for purpose in OtpPurpose::PASSWORD_RESETS {
        conn.execute(
            "DELETE FROM otps WHERE merchant_id = ?1 AND customer_id = ?2 AND purpose = ?3",
            params![m, c, purpose.as_str()],
        )
        .map_err(map_error)?;
    }
    Ok(())
}

/// The counter stored under `key`, live or not.
fn stored_counter(conn: &Connection, key: &str) -> StoreResult<Option<Counted>> {
    conn.query_row("SELECT count, expires_at FROM counters WHERE key = ?1", params![key], |row| {
        Ok(Counted { count: to_u32(row.get(0)?), expires_at: row.get(1)? })
    })
    .optional()
    .map_err(map_error)
}

fn write_counter(conn: &Connection, key: &str, counted: Counted) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO counters (key, count, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET count = excluded.count, expires_at = excluded.expires_at",
        params![key, i64::from(counted.count), counted.expires_at],
    )
    .map_err(map_error)?;
    Ok(())
}

/// Counts one event under `key` (`rules::reserve`) inside the caller's transaction.
fn reserve_in(conn: &Connection, key: &str, policy: CounterPolicy, now: i64) -> StoreResult<Reservation> {
    let reservation = rules::reserve(stored_counter(conn, key)?, policy, now);
    if reservation.granted {
        write_counter(conn, key, reservation.counted())?;
    }
    Ok(reservation)
}

#[async_trait]
impl Setup for SqliteStore {
    async fn init(&self) -> StoreResult<()> {
        self.atomically(|tx| {
            tx.execute_batch(SCHEMA).map_err(map_error)?;
            for (table, column, definition) in ADDED_COLUMNS {
                let present =
                    exists(tx, &format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"), [column])?;
                if !present {
                    tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"))
                        .map_err(map_error)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String> {
        let (name, candidate) = (name.to_string(), candidate.to_string());
        self.atomically(move |tx| {
            tx.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                params![name, candidate],
            )
            .map_err(map_error)?;
            tx.query_row("SELECT value FROM settings WHERE name = ?1", params![name], |row| row.get(0))
                .map_err(map_error)
        })
        .await
    }

    async fn next_id(&self, sequence: Sequence) -> StoreResult<u64> {
        self.ids.next(sequence, |size| self.with(move |conn| reserve_ids(conn, sequence, size))).await
    }
}

#[async_trait]
impl Merchants for SqliteStore {
    async fn create_merchant(&self, merchant: &Merchant, api_key_hash: &str) -> StoreResult<()> {
        let (merchant, hash) = (merchant.clone(), api_key_hash.to_string());
        self.atomically(move |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO merchants (id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![to_i64(merchant.id)?, merchant.name, merchant.created_at],
                )
                .map_err(map_error)?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            tx.execute("INSERT INTO api_keys (hash, merchant_id) VALUES (?1, ?2)", params![hash, to_i64(merchant.id)?])
                .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn merchant(&self, id: u64) -> StoreResult<Option<Merchant>> {
        self.with(move |conn| {
            conn.query_row("SELECT id, name, created_at FROM merchants WHERE id = ?1", params![to_i64(id)?], |row| {
                Ok(Merchant { id: to_u64(row.get(0)?)?, name: row.get(1)?, created_at: row.get(2)? })
            })
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn merchant_id_by_api_key(&self, api_key_hash: &str, now: i64) -> StoreResult<Option<u64>> {
        let hash = api_key_hash.to_string();
        self.with(move |conn| {
            conn.query_row(
                "SELECT merchant_id FROM api_keys WHERE hash = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                params![hash, now],
                |row| to_u64(row.get(0)?),
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }
}

/// How many allocated IDs `create_customer` tries before giving up (each after the first
/// comes from a new block).
const ID_TURNS: usize = 16;

/// Creates the customer under `id` with its unique fields and `app_key`, inside the caller's
/// transaction. `None`: a customer already has the ID, and nothing was written.
fn insert_customer(
    tx: &Transaction<'_>,
    new: NewCustomer,
    id: u64,
    app_key: Option<AppKey>,
) -> StoreResult<Option<Customer>> {
    let merchant_id = to_i64(new.merchant_id)?;
    // Writers are serialized, so checking then inserting inside this transaction is atomic;
    // the unique indexes stay as a second line of defence.
    for field in UniqueField::ALL {
        let value = match field {
            UniqueField::Email => &new.email,
            UniqueField::Mobile => &new.mobile,
            UniqueField::MemberId => &new.member_id,
            UniqueField::FacebookId => &new.facebook_id,
        };
        let Some(value) = value else { continue };
        let sql = format!("SELECT 1 FROM customers WHERE merchant_id = ?1 AND {} = ?2", unique_column(field));
        if exists(tx, &sql, params![merchant_id, value])? {
            return Err(StoreError::Duplicate(field));
        }
    }
    if customer_exists(tx, merchant_id, id)? {
        return Ok(None);
    }
    let customer = new.into_customer(id);
    tx.execute(
        &format!(
            "INSERT INTO customers ({CUSTOMER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        customer_row(&customer)?,
    )
    .map_err(map_error)?;
    if let Some(key) = app_key {
        insert_app_key(tx, &AppKey { customer_id: id, generation: customer.key_generation, ..key })?;
    }
    Ok(Some(customer))
}

#[async_trait]
impl Customers for SqliteStore {
    async fn create_customer(&self, new: NewCustomer, app_key: Option<&AppKey>) -> StoreResult<Customer> {
        let given_id = new.id;
        for _ in 0..ID_TURNS {
            let id = match given_id {
                Some(id) => id,
                None => self.next_id(Sequence::Customer).await?,
            };
            let (new, app_key) = (new.clone(), app_key.cloned());
            match self.atomically(move |tx| insert_customer(tx, new, id, app_key)).await? {
                Some(customer) => return Ok(customer),
                None if given_id.is_some() => return Err(StoreError::AlreadyExists),
                // An import holds this ID, so it probably holds more of the block: the next
                // ID comes from a new block, past the import's.
                None => self.ids.discard(Sequence::Customer).await,
            }
        }
        Err(StoreError::Unavailable("could not allocate a free customer ID".into()))
    }

    async fn customer(&self, merchant_id: u64, id: u64) -> StoreResult<Option<Customer>> {
        self.with(move |conn| {
            conn.query_row(
                &format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE merchant_id = ?1 AND id = ?2"),
                params![to_i64(merchant_id)?, to_i64(id)?],
                customer_from_row,
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn customer_by(&self, merchant_id: u64, field: UniqueField, value: &str) -> StoreResult<Option<Customer>> {
        let value = value.to_string();
        self.with(move |conn| {
            let sql = format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE merchant_id = ?1 AND {} = ?2",
                unique_column(field)
            );
            conn.query_row(&sql, params![to_i64(merchant_id)?, value], customer_from_row).optional().map_err(map_error)
        })
        .await
    }

    async fn update_contact(
        &self,
        merchant_id: u64,
        customer_id: u64,
        change: &ContactChange,
    ) -> StoreResult<Option<Customer>> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        let change = change.clone();
        self.atomically(move |tx| {
            let current = tx
                .query_row(
                    &format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE merchant_id = ?1 AND id = ?2"),
                    params![m, c],
                    customer_from_row,
                )
                .optional()
                .map_err(map_error)?;
            let Some(mut customer) = current else {
                return Ok(None);
            };
            for (field, value) in [(UniqueField::Email, &change.email), (UniqueField::Mobile, &change.mobile)] {
                let Some(value) = value else { continue };
                if let Some(new) = value {
                    let sql = format!(
                        "SELECT 1 FROM customers WHERE merchant_id = ?1 AND {} = ?2 AND id != ?3",
                        unique_column(field)
                    );
                    if exists(tx, &sql, params![m, new, c])? {
                        return Err(StoreError::Duplicate(field));
                    }
                }
                tx.execute(
                    &format!("UPDATE customers SET {} = ?3 WHERE merchant_id = ?1 AND id = ?2", unique_column(field)),
                    params![m, c, value],
                )
                .map_err(map_error)?;
                match field {
                    UniqueField::Email => customer.email = value.clone(),
                    _ => customer.mobile = value.clone(),
                }
            }
            for channel in change.channels() {
                tx.execute(
                    "DELETE FROM suppressions WHERE merchant_id = ?1 AND customer_id = ?2 AND channel = ?3",
                    params![m, c, channel.as_str()],
                )
                .map_err(map_error)?;
            }
            Ok(Some(customer))
        })
        .await
    }

    /// One query, hit or miss, like `customer_by`.
    async fn customer_by_evenly(
        &self,
        merchant_id: u64,
        field: UniqueField,
        value: &str,
    ) -> StoreResult<Option<Customer>> {
        self.customer_by(merchant_id, field, value).await
    }

    async fn set_password(
        &self,
        merchant_id: u64,
        customer_id: u64,
        password_hash: &str,
        current: Option<&str>,
    ) -> StoreResult<bool> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        let (hash, current) = (password_hash.to_string(), current.map(str::to_string));
        self.atomically(move |tx| {
            let changed = match current {
                None => tx.execute(
                    "UPDATE customers SET password_hash = ?3 WHERE merchant_id = ?1 AND id = ?2",
                    params![m, c, hash],
                ),
                Some(current) => tx.execute(
                    "UPDATE customers SET password_hash = ?3 WHERE merchant_id = ?1 AND id = ?2 AND password_hash = ?4",
                    params![m, c, hash, current],
                ),
            }
            .map_err(map_error)?;
            if changed == 0 {
                return Ok(false);
            }
            delete_password_resets(tx, m, c)?;
            Ok(true)
        })
        .await
    }
}

#[async_trait]
impl Counters for SqliteStore {
    async fn reserve(&self, key: &str, policy: CounterPolicy, now: i64) -> StoreResult<Reservation> {
        let key = key.to_string();
        self.atomically(move |tx| reserve_in(tx, &key, policy, now)).await
    }

    async fn release(&self, key: &str, now: i64) -> StoreResult<()> {
        let key = key.to_string();
        self.atomically(move |tx| match rules::release(stored_counter(tx, &key)?, now) {
            Some(released) => write_counter(tx, &key, released),
            None => Ok(()),
        })
        .await
    }

    async fn counter(&self, key: &str, now: i64) -> StoreResult<CounterState> {
        let key = key.to_string();
        self.with(move |conn| Ok(rules::read(stored_counter(conn, &key)?, now))).await
    }

    async fn clear_counter(&self, key: &str) -> StoreResult<()> {
        let key = key.to_string();
        self.with(move |conn| {
            conn.execute("DELETE FROM counters WHERE key = ?1", params![key]).map_err(map_error)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Pins for SqliteStore {
    async fn put_pin(
        &self,
        merchant_id: u64,
        customer_id: u64,
        pin_hash: &str,
        condition: PinCondition<'_>,
    ) -> StoreResult<bool> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        let hash = pin_hash.to_string();
        // `None`: write whatever is stored; `Some(expected)`: only while the stored hash is it.
        let expected: Option<Option<String>> = match condition {
            PinCondition::Any => None,
            PinCondition::Unset => Some(None),
            PinCondition::Current(current) => Some(Some(current.to_string())),
        };
        self.atomically(move |tx| {
            let stored: Option<String> = tx
                .query_row(
                    "SELECT pin_hash FROM pins WHERE merchant_id = ?1 AND customer_id = ?2",
                    params![m, c],
                    |row| row.get(0),
                )
                .optional()
                .map_err(map_error)?;
            if let Some(expected) = expected
                && stored != expected
            {
                return Ok(false);
            }
            write_pin(tx, m, c, &hash)?;
            Ok(true)
        })
        .await
    }

    async fn reserve_pin_attempt(
        &self,
        merchant_id: u64,
        customer_id: u64,
        policy: CounterPolicy,
        now: i64,
    ) -> StoreResult<PinAttempt> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        self.atomically(move |tx| {
            let row: Option<(String, i64, i64)> = tx
                .query_row(
                    "SELECT pin_hash, failures, failures_expire_at FROM pins WHERE merchant_id = ?1 AND customer_id = ?2",
                    params![m, c],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(map_error)?;
            let Some((pin_hash, failures, expires_at)) = row else {
                return Ok(PinAttempt::NoPin);
            };
            let stored = Counted { count: to_u32(failures), expires_at };
            let Some(reserved) = rules::reserve_pin_attempt(stored, policy, now) else {
                return Ok(PinAttempt::Blocked);
            };
            tx.execute(
                "UPDATE pins SET failures = ?3, failures_expire_at = ?4 WHERE merchant_id = ?1 AND customer_id = ?2",
                params![m, c, i64::from(reserved.count), reserved.expires_at],
            )
            .map_err(map_error)?;
            Ok(PinAttempt::Granted { pin_hash, count: reserved.count })
        })
        .await
    }

    async fn clear_pin_failures(&self, merchant_id: u64, customer_id: u64) -> StoreResult<()> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        self.with(move |conn| {
            conn.execute(
                "UPDATE pins SET failures = 0, failures_expire_at = 0 WHERE merchant_id = ?1 AND customer_id = ?2",
                params![m, c],
            )
            .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn pin_state(&self, merchant_id: u64, customer_id: u64) -> StoreResult<Option<PinState>> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        self.with(move |conn| {
            conn.query_row(
                "SELECT failures, failures_expire_at FROM pins WHERE merchant_id = ?1 AND customer_id = ?2",
                params![m, c],
                |row| Ok(PinState { failures: to_u32(row.get(0)?), failures_expire_at: row.get(1)? }),
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }
}

fn otp_from_row(purpose: OtpPurpose, row: &rusqlite::Row<'_>) -> rusqlite::Result<OtpRecord> {
    Ok(OtpRecord {
        merchant_id: to_u64(row.get(0)?)?,
        customer_id: to_u64(row.get(1)?)?,
        purpose,
        otp_hash: row.get(2)?,
        expires_at: row.get(3)?,
        tries: to_u32(row.get(4)?),
    })
}

/// The customer's code of `purpose` as stored, live or not.
fn stored_otp(conn: &Connection, m: i64, c: i64, purpose: OtpPurpose) -> StoreResult<Option<OtpRecord>> {
    conn.query_row(
        "SELECT merchant_id, customer_id, otp_hash, expires_at, tries FROM otps
         WHERE merchant_id = ?1 AND customer_id = ?2 AND purpose = ?3",
        params![m, c, purpose.as_str()],
        |row| otp_from_row(purpose, row),
    )
    .optional()
    .map_err(map_error)
}

#[async_trait]
impl Otps for SqliteStore {
    async fn issue_otp(&self, otp: &OtpRecord, limit_key: &str, limit: CounterPolicy, now: i64) -> StoreResult<bool> {
        let (otp, limit_key) = (otp.clone(), limit_key.to_string());
        self.atomically(move |tx| {
            if !reserve_in(tx, &limit_key, limit, now)?.granted {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO otps (merchant_id, customer_id, purpose, otp_hash, expires_at, tries)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(merchant_id, customer_id, purpose)
                 DO UPDATE SET otp_hash = excluded.otp_hash, expires_at = excluded.expires_at, tries = excluded.tries",
                params![
                    to_i64(otp.merchant_id)?,
                    to_i64(otp.customer_id)?,
                    otp.purpose.as_str(),
                    otp.otp_hash,
                    otp.expires_at,
                    i64::from(otp.tries)
                ],
            )
            .map_err(map_error)?;
            Ok(true)
        })
        .await
    }

    async fn reserve_otp_try(
        &self,
        merchant_id: u64,
        customer_id: u64,
        purpose: OtpPurpose,
        max_tries: u32,
        now: i64,
    ) -> StoreResult<Option<OtpRecord>> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        self.atomically(move |tx| {
            let Some(mut record) = stored_otp(tx, m, c, purpose)? else {
                return Ok(None);
            };
            let Some(tries) = rules::use_otp_try(record.tries, record.expires_at, max_tries, now) else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE otps SET tries = ?4 WHERE merchant_id = ?1 AND customer_id = ?2 AND purpose = ?3",
                params![m, c, purpose.as_str(), i64::from(tries)],
            )
            .map_err(map_error)?;
            record.tries = tries;
            Ok(Some(record))
        })
        .await
    }

    async fn consume_otp(
        &self,
        merchant_id: u64,
        customer_id: u64,
        purpose: OtpPurpose,
        otp_hash: &str,
        now: i64,
        effect: OtpEffect,
    ) -> StoreResult<bool> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        let otp_hash = otp_hash.to_string();
        self.atomically(move |tx| {
            // Every condition is checked before the first write: returning `false` commits.
            let condition_holds = match &effect {
                OtpEffect::SetPin(_) => true,
                OtpEffect::SetPassword(_) | OtpEffect::ResetByEmail { unlink_facebook: None, .. } => {
                    customer_exists(tx, m, customer_id)?
                }
                OtpEffect::ResetByEmail { unlink_facebook: Some(facebook_id), .. } => exists(
                    tx,
                    "SELECT 1 FROM customers WHERE merchant_id = ?1 AND id = ?2 AND facebook_id = ?3",
                    params![m, c, facebook_id],
                )?,
            };
            if !condition_holds {
                return Ok(false);
            }
            let consumable = stored_otp(tx, m, c, purpose)?
                .is_some_and(|stored| rules::otp_consumable(&stored.otp_hash, stored.expires_at, &otp_hash, now));
            if !consumable {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM otps WHERE merchant_id = ?1 AND customer_id = ?2 AND purpose = ?3",
                params![m, c, purpose.as_str()],
            )
            .map_err(map_error)?;
            match effect {
                OtpEffect::SetPin(pin_hash) => write_pin(tx, m, c, &pin_hash)?,
                OtpEffect::SetPassword(password_hash) => {
                    tx.execute(
                        "UPDATE customers SET password_hash = ?3 WHERE merchant_id = ?1 AND id = ?2",
                        params![m, c, password_hash],
                    )
                    .map_err(map_error)?;
                    delete_password_resets(tx, m, c)?;
                }
                OtpEffect::ResetByEmail { password_hash, unlink_facebook } => {
                    tx.execute(
                        "UPDATE customers SET password_hash = ?3, email_proven_at = COALESCE(email_proven_at, ?4),
                         key_generation = key_generation + 1,
                         facebook_id = CASE WHEN ?5 THEN NULL ELSE facebook_id END
                         WHERE merchant_id = ?1 AND id = ?2",
                        params![m, c, password_hash, now, unlink_facebook.is_some()],
                    )
                    .map_err(map_error)?;
                    delete_password_resets(tx, m, c)?;
                }
            }
            Ok(true)
        })
        .await
    }

    async fn otp(
        &self,
        merchant_id: u64,
        customer_id: u64,
        purpose: OtpPurpose,
        now: i64,
    ) -> StoreResult<Option<OtpRecord>> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        self.with(move |conn| {
            Ok(stored_otp(conn, m, c, purpose)?.filter(|record| rules::otp_live(record.expires_at, now)))
        })
        .await
    }
}

fn insert_app_key(conn: &Connection, key: &AppKey) -> StoreResult<()> {
    let inserted = conn
        .execute(
            "INSERT INTO app_keys (hash, merchant_id, customer_id, gcm_id, created_at, generation)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![
                key.key_hash,
                to_i64(key.merchant_id)?,
                to_i64(key.customer_id)?,
                key.gcm_id,
                key.created_at,
                i64::from(key.generation)
            ],
        )
        .map_err(map_error)?;
    if inserted == 0 { Err(StoreError::AlreadyExists) } else { Ok(()) }
}

#[async_trait]
impl AppKeys for SqliteStore {
    async fn put_app_key(&self, key: &AppKey) -> StoreResult<bool> {
        let key = key.clone();
        self.atomically(move |tx| {
            let current = exists(
                tx,
                "SELECT 1 FROM customers WHERE merchant_id = ?1 AND id = ?2 AND key_generation = ?3",
                params![to_i64(key.merchant_id)?, to_i64(key.customer_id)?, i64::from(key.generation)],
            )?;
            if !current {
                return Ok(false);
            }
            insert_app_key(tx, &key)?;
            Ok(true)
        })
        .await
    }

    async fn app_key(&self, key_hash: &str) -> StoreResult<Option<AppKey>> {
        let hash = key_hash.to_string();
        self.with(move |conn| {
            conn.query_row(
                "SELECT k.hash, k.merchant_id, k.customer_id, k.gcm_id, k.created_at, k.generation FROM app_keys k
                 JOIN customers c ON c.merchant_id = k.merchant_id AND c.id = k.customer_id
                 WHERE k.hash = ?1 AND k.generation = c.key_generation",
                params![hash],
                |row| {
                    Ok(AppKey {
                        key_hash: row.get(0)?,
                        merchant_id: to_u64(row.get(1)?)?,
                        customer_id: to_u64(row.get(2)?)?,
                        gcm_id: row.get(3)?,
                        created_at: row.get(4)?,
                        generation: to_u32(row.get(5)?),
                    })
                },
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn delete_app_key(&self, key_hash: &str) -> StoreResult<Option<(u64, u64)>> {
        let hash = key_hash.to_string();
        self.with(move |conn| {
            conn.query_row(
                "DELETE FROM app_keys WHERE hash = ?1 RETURNING merchant_id, customer_id",
                params![hash],
                |row| Ok((to_u64(row.get(0)?)?, to_u64(row.get(1)?)?)),
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }
}

fn template_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Template> {
    Ok(Template {
        merchant_id: to_u64(row.get(0)?)?,
        code: row.get(1)?,
        subject: row.get(2)?,
        text: row.get(3)?,
        html: row.get(4)?,
        sms: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

const TEMPLATE_COLUMNS: &str = "merchant_id, code, subject, text, html, sms, updated_at";

#[async_trait]
impl Templates for SqliteStore {
    async fn put_template(&self, template: &Template) -> StoreResult<()> {
        let t = template.clone();
        self.with(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO templates ({TEMPLATE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT(merchant_id, code) DO UPDATE SET subject = excluded.subject, text = excluded.text,
                     html = excluded.html, sms = excluded.sms, updated_at = excluded.updated_at"
                ),
                params![to_i64(t.merchant_id)?, t.code, t.subject, t.text, t.html, t.sms, t.updated_at],
            )
            .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn template(&self, merchant_id: u64, code: &str) -> StoreResult<Option<Template>> {
        let code = code.to_string();
        self.with(move |conn| {
            conn.query_row(
                &format!("SELECT {TEMPLATE_COLUMNS} FROM templates WHERE merchant_id = ?1 AND code = ?2"),
                params![to_i64(merchant_id)?, code],
                template_from_row,
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn templates(&self, merchant_id: u64) -> StoreResult<Vec<Template>> {
        self.with(move |conn| {
            let mut statement = conn
                .prepare(&format!("SELECT {TEMPLATE_COLUMNS} FROM templates WHERE merchant_id = ?1 ORDER BY code"))
                .map_err(map_error)?;
            let rows = statement.query_map(params![to_i64(merchant_id)?], template_from_row).map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(map_error)
        })
        .await
    }
}

#[async_trait]
impl Deliveries for SqliteStore {
    async fn claim_delivery(&self, event_id: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        let event_id = event_id.to_string();
        self.with(move |conn| {
            let claimed = conn
                .execute(
                    "INSERT INTO deliveries (event_id, expires_at) VALUES (?1, ?2)
                     ON CONFLICT(event_id) DO UPDATE SET expires_at = excluded.expires_at
                     WHERE deliveries.expires_at <= ?3",
                    params![event_id, expires_at, now],
                )
                .map_err(map_error)?;
            Ok(claimed > 0)
        })
        .await
    }

    async fn release_delivery(&self, event_id: &str) -> StoreResult<()> {
        let event_id = event_id.to_string();
        self.with(move |conn| {
            conn.execute("DELETE FROM deliveries WHERE event_id = ?1", params![event_id]).map_err(map_error)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn put_session(&self, session: &ConsoleSession, now: i64) -> StoreResult<()> {
        let session = session.clone();
        self.with(move |conn| {
            // Ended sessions go as new ones come: SQLite has no TTL.
            conn.execute("DELETE FROM console_sessions WHERE expires_at <= ?1", params![now]).map_err(map_error)?;
            conn.execute(
                "INSERT OR REPLACE INTO console_sessions (id_hash, merchant_id, csrf_token, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    session.id_hash,
                    i64::try_from(session.merchant_id).unwrap_or(i64::MAX),
                    session.csrf_token,
                    session.expires_at
                ],
            )
            .map_err(map_error)?;
            Ok(())
        })
        .await
    }

    async fn session(&self, id_hash: &str, now: i64) -> StoreResult<Option<ConsoleSession>> {
        let id_hash = id_hash.to_string();
        self.with(move |conn| {
            conn.query_row(
                "SELECT merchant_id, csrf_token, expires_at FROM console_sessions WHERE id_hash = ?1 AND expires_at > ?2",
                params![id_hash, now],
                |row| {
                    Ok(ConsoleSession {
                        id_hash: id_hash.clone(),
                        merchant_id: u64::try_from(row.get::<_, i64>(0)?).unwrap_or_default(),
                        csrf_token: row.get(1)?,
                        expires_at: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let id_hash = id_hash.to_string();
        self.with(move |conn| {
            conn.execute("DELETE FROM console_sessions WHERE id_hash = ?1", params![id_hash]).map_err(map_error)?;
            Ok(())
        })
        .await
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(format!("encoding a record: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("decoding a record: {e}")))
}

#[async_trait]
impl History for SqliteStore {
    /// Also deletes the customer's expired events: SQLite has no TTL.
    async fn record_events(&self, events: &[SecurityEvent]) -> StoreResult<()> {
        let events = events.to_vec();
        self.atomically(move |tx| {
            for event in &events {
                let (m, c) = (to_i64(event.merchant_id)?, to_i64(event.customer_id)?);
                tx.execute(
                    "DELETE FROM security_events WHERE merchant_id = ?1 AND customer_id = ?2 AND expires_at <= ?3",
                    params![m, c, event.at],
                )
                .map_err(map_error)?;
                tx.execute(
                    "INSERT INTO security_events (merchant_id, customer_id, id, at, expires_at, event)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(merchant_id, customer_id, id) DO UPDATE SET event = excluded.event",
                    params![m, c, event.id, event.at, event.expires_at, to_json(event)?],
                )
                .map_err(map_error)?;
            }
            Ok(())
        })
        .await
    }

    async fn events(
        &self,
        merchant_id: u64,
        customer_id: u64,
        before: Option<&str>,
        limit: u32,
        since: i64,
        now: i64,
    ) -> StoreResult<EventPage> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        let before = before.map(str::to_string);
        self.with(move |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT event FROM security_events
                     WHERE merchant_id = ?1 AND customer_id = ?2 AND at >= ?3 AND expires_at > ?4
                       AND (?5 IS NULL OR id < ?5)
                     ORDER BY id DESC LIMIT ?6",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map(params![m, c, since, now, before, i64::from(limit) + 1], |row| row.get::<_, String>(0))
                .map_err(map_error)?;
            let mut events = Vec::new();
            for row in rows {
                events.push(from_json::<SecurityEvent>(&row.map_err(map_error)?)?);
            }
            Ok(super::page_of(events, limit))
        })
        .await
    }
}

#[async_trait]
impl DeliveryOutcomes for SqliteStore {
    async fn record_delivery(
        &self,
        merchant_id: u64,
        customer_id: u64,
        outcome: &DeliveryOutcome,
        suppress: Option<&Suppression>,
    ) -> StoreResult<()> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        let (last, at) = (to_json(outcome)?, outcome.at);
        let suppression = suppress.map(|s| to_json(s).map(|text| (s.channel.as_str(), text))).transpose()?;
        self.atomically(move |tx| {
            tx.execute(
                "INSERT INTO delivery_states (merchant_id, customer_id, last, last_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(merchant_id, customer_id) DO UPDATE SET last = excluded.last, last_at = excluded.last_at
                 WHERE delivery_states.last_at <= excluded.last_at",
                params![m, c, last, at],
            )
            .map_err(map_error)?;
            if let Some((channel, suppression)) = suppression {
                tx.execute(
                    "INSERT INTO suppressions (merchant_id, customer_id, channel, suppression) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(merchant_id, customer_id, channel) DO UPDATE SET suppression = excluded.suppression",
                    params![m, c, channel, suppression],
                )
                .map_err(map_error)?;
            }
            Ok(())
        })
        .await
    }

    async fn delivery_state(&self, merchant_id: u64, customer_id: u64) -> StoreResult<DeliveryState> {
        let (m, c) = (to_i64(merchant_id)?, to_i64(customer_id)?);
        self.with(move |conn| {
            let last: Option<String> = conn
                .query_row(
                    "SELECT last FROM delivery_states WHERE merchant_id = ?1 AND customer_id = ?2",
                    params![m, c],
                    |row| row.get(0),
                )
                .optional()
                .map_err(map_error)?;
            let mut statement = conn
                .prepare(
                    "SELECT suppression FROM suppressions WHERE merchant_id = ?1 AND customer_id = ?2 ORDER BY channel",
                )
                .map_err(map_error)?;
            let rows = statement.query_map(params![m, c], |row| row.get::<_, String>(0)).map_err(map_error)?;
            let mut suppressed = Vec::new();
            for row in rows {
                suppressed.push(from_json::<Suppression>(&row.map_err(map_error)?)?);
            }
            Ok(DeliveryState { last: last.as_deref().map(from_json).transpose()?, suppressed })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `customers` and `app_keys` as the first release made them.
    const FIRST_RELEASE: &str = "
        CREATE TABLE customers (
            merchant_id INTEGER NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL,
            email TEXT, mobile TEXT, member_id TEXT, facebook_id TEXT, password_hash TEXT,
            profile TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL,
            PRIMARY KEY (merchant_id, id));
        CREATE TABLE app_keys (
            hash TEXT PRIMARY KEY, merchant_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
            gcm_id TEXT, created_at INTEGER NOT NULL);
        INSERT INTO customers (merchant_id, id, name, email, created_at) VALUES (1, 7, 'Ann', 'ann@example.com', 100);
        INSERT INTO app_keys (hash, merchant_id, customer_id, created_at) VALUES ('k', 1, 7, 100);";

    #[tokio::test]
    async fn a_database_of_the_first_release_gets_the_new_columns_and_keeps_its_keys() {
        let store = SqliteStore::open(":memory:").expect("open");
        store.with(|conn| conn.execute_batch(FIRST_RELEASE).map_err(map_error)).await.expect("old schema");
        store.init().await.expect("migrated");
        store.init().await.expect("a second init changes nothing");
        let ann = store.customer(1, 7).await.expect("read").expect("kept");
        assert_eq!((ann.key_generation, ann.email_proven_at), (0, None));
        assert_eq!(store.app_key("k").await.expect("read").map(|key| key.generation), Some(0), "still live");
        let key = AppKey {
            key_hash: "k2".into(),
            merchant_id: 1,
            customer_id: 7,
            gcm_id: None,
            created_at: 200,
            generation: 0,
        };
        assert!(store.put_app_key(&key).await.expect("put"));
    }
}
