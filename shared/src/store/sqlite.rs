//! The embedded store: SQLite through `rusqlite`, for running on one machine with no cloud.
//! It keeps every promise of the DynamoDB store: writes that must be atomic run in one
//! `BEGIN IMMEDIATE` transaction (SQLite serializes writers), unique fields have unique
//! indexes, and expired rows read as absent.
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool behind one connection.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use super::{
    CounterPolicy, CounterState, Customer, Merchant, NewCustomer, Reservation, Sequence, Store, StoreError,
    StoreResult, UniqueField, next_expiry,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS merchants (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY, merchant_id INTEGER NOT NULL REFERENCES merchants(id));
CREATE TABLE IF NOT EXISTS customers (
    merchant_id INTEGER NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL,
    email TEXT, mobile TEXT, member_id TEXT, password_hash TEXT, created_at INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, id));
CREATE UNIQUE INDEX IF NOT EXISTS customers_email ON customers(merchant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS customers_mobile ON customers(merchant_id, mobile) WHERE mobile IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS customers_member_id ON customers(merchant_id, member_id) WHERE member_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at INTEGER NOT NULL);
";

const CUSTOMER_COLUMNS: &str = "id, merchant_id, name, email, mobile, member_id, password_hash, created_at";

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<SqliteStore> {
        let conn = Connection::open(path).map_err(map_error)?;
        // Another process (the CLI beside the server) may hold the write lock for a moment.
        conn.busy_timeout(Duration::from_secs(5)).map_err(map_error)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(map_error)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(map_error)?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)) })
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

fn customer_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: to_u64(row.get(0)?)?,
        merchant_id: to_u64(row.get(1)?)?,
        name: row.get(2)?,
        email: row.get(3)?,
        mobile: row.get(4)?,
        member_id: row.get(5)?,
        password_hash: row.get(6)?,
        created_at: row.get(7)?,
    })
}

fn next_id_in(conn: &Connection, sequence: Sequence) -> StoreResult<u64> {
    let last: i64 = conn
        .query_row(
            "INSERT INTO sequences (name, last) VALUES (?1, 1)
             ON CONFLICT(name) DO UPDATE SET last = last + 1 RETURNING last",
            params![sequence.name()],
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
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn init(&self) -> StoreResult<()> {
        self.with(|conn| conn.execute_batch(SCHEMA).map_err(map_error)).await
    }

    async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String> {
        let (name, candidate) = (name.to_string(), candidate.to_string());
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                params![name, candidate],
            )
            .map_err(map_error)?;
            conn.query_row("SELECT value FROM settings WHERE name = ?1", params![name], |row| row.get(0))
                .map_err(map_error)
        })
        .await
    }

    async fn next_id(&self, sequence: Sequence) -> StoreResult<u64> {
        self.with(move |conn| next_id_in(conn, sequence)).await
    }

    async fn create_merchant(&self, merchant: &Merchant, api_key_hash: &str) -> StoreResult<()> {
        let (merchant, hash) = (merchant.clone(), api_key_hash.to_string());
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_error)?;
            let inserted = tx
                .execute(
                    "INSERT INTO merchants (id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    params![to_i64(merchant.id)?, merchant.name, merchant.created_at],
                )
                .map_err(map_error)?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            tx.execute(
                "INSERT INTO api_keys (hash, merchant_id) VALUES (?1, ?2)",
                params![hash, to_i64(merchant.id)?],
            )
            .map_err(map_error)?;
            tx.commit().map_err(map_error)
        })
        .await
    }

    async fn merchant(&self, id: u64) -> StoreResult<Option<Merchant>> {
        self.with(move |conn| {
            conn.query_row(
                "SELECT id, name, created_at FROM merchants WHERE id = ?1",
                params![to_i64(id)?],
                |row| Ok(Merchant { id: to_u64(row.get(0)?)?, name: row.get(1)?, created_at: row.get(2)? }),
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn merchant_id_by_api_key(&self, api_key_hash: &str) -> StoreResult<Option<u64>> {
        let hash = api_key_hash.to_string();
        self.with(move |conn| {
            conn.query_row("SELECT merchant_id FROM api_keys WHERE hash = ?1", params![hash], |row| {
                to_u64(row.get(0)?)
            })
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn create_customer(&self, new: NewCustomer) -> StoreResult<Customer> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_error)?;
            let merchant_id = to_i64(new.merchant_id)?;
            // Writers are serialized, so checking then inserting inside this transaction is
            // atomic; the unique indexes stay as a second line of defence.
            let fields = [
                (UniqueField::Email, &new.email),
                (UniqueField::Mobile, &new.mobile),
                (UniqueField::MemberId, &new.member_id),
            ];
            for (field, value) in fields {
                let Some(value) = value else { continue };
                let sql = format!(
                    "SELECT 1 FROM customers WHERE merchant_id = ?1 AND {} = ?2",
                    unique_column(field)
                );
                let taken = tx.query_row(&sql, params![merchant_id, value], |_| Ok(())).optional().map_err(map_error)?;
                if taken.is_some() {
                    return Err(StoreError::Duplicate(field));
                }
            }
            let id = match new.id {
                Some(id) => {
                    let taken = tx
                        .query_row(
                            "SELECT 1 FROM customers WHERE merchant_id = ?1 AND id = ?2",
                            params![merchant_id, to_i64(id)?],
                            |_| Ok(()),
                        )
                        .optional()
                        .map_err(map_error)?;
                    if taken.is_some() {
                        return Err(StoreError::AlreadyExists);
                    }
                    id
                }
                // Allocate past IDs that an import may have taken.
                None => loop {
                    let id = next_id_in(&tx, Sequence::Customer)?;
                    let taken = tx
                        .query_row(
                            "SELECT 1 FROM customers WHERE merchant_id = ?1 AND id = ?2",
                            params![merchant_id, to_i64(id)?],
                            |_| Ok(()),
                        )
                        .optional()
                        .map_err(map_error)?;
                    if taken.is_none() {
                        break id;
                    }
                },
            };
            let customer = Customer {
                id,
                merchant_id: new.merchant_id,
                name: new.name,
                email: new.email,
                mobile: new.mobile,
                member_id: new.member_id,
                password_hash: new.password_hash,
                created_at: new.created_at,
            };
            tx.execute(
                &format!("INSERT INTO customers ({CUSTOMER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    to_i64(customer.id)?,
                    merchant_id,
                    customer.name,
                    customer.email,
                    customer.mobile,
                    customer.member_id,
                    customer.password_hash,
                    customer.created_at
                ],
            )
            .map_err(map_error)?;
            tx.commit().map_err(map_error)?;
            Ok(customer)
        })
        .await
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
            conn.query_row(&sql, params![to_i64(merchant_id)?, value], customer_from_row)
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn reserve(&self, key: &str, policy: CounterPolicy, now: i64) -> StoreResult<Reservation> {
        let key = key.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_error)?;
            let current: Option<(i64, i64)> = tx
                .query_row("SELECT count, expires_at FROM counters WHERE key = ?1", params![key], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .map_err(map_error)?;
            // An expired row counts as absent, whether or not it was cleaned up yet.
            let live = current.filter(|(_, expires_at)| *expires_at > now);
            let count = live.map_or(0, |(count, _)| u32::try_from(count).unwrap_or(u32::MAX));
            if count >= policy.limit {
                let expires_at = live.map_or(now, |(_, expires_at)| expires_at);
                return Ok(Reservation { granted: false, count, expires_at });
            }
            let expires_at = next_expiry(policy, live.map(|(_, expires_at)| expires_at), now);
            tx.execute(
                "INSERT INTO counters (key, count, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET count = excluded.count, expires_at = excluded.expires_at",
                params![key, i64::from(count + 1), expires_at],
            )
            .map_err(map_error)?;
            tx.commit().map_err(map_error)?;
            Ok(Reservation { granted: true, count: count + 1, expires_at })
        })
        .await
    }

    async fn counter(&self, key: &str, now: i64) -> StoreResult<CounterState> {
        let key = key.to_string();
        self.with(move |conn| {
            let row: Option<(i64, i64)> = conn
                .query_row("SELECT count, expires_at FROM counters WHERE key = ?1", params![key], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .map_err(map_error)?;
            Ok(match row {
                Some((count, expires_at)) if expires_at > now => CounterState {
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    expires_at: Some(expires_at),
                },
                _ => CounterState::default(),
            })
        })
        .await
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
