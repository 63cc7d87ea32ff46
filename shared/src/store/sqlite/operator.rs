//! The operator's bulk calls on SQLite: customer imports in transactions of many rows, exports
//! by pages of the primary key, merchant imports and key rotation.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    CUSTOMER_COLUMNS, SqliteStore, customer_from_row, customer_row, exists, map_error, to_i64, to_u64, unique_column,
};
use crate::store::{
    Customer, ImportBatching, ImportOutcome, ImportedCustomer, Merchant, MerchantImport, Operator, Sequence,
    StoreError, StoreResult, UniqueField,
};

/// Rows per transaction: SQLite's cost is per transaction (a WAL commit), so many rows share
/// one; a batch still commits often enough that a live server's writes wait a moment only.
const BATCH_CUSTOMERS: usize = 2000;

/// Moves `sequence` to at least `last`, inside the caller's transaction.
pub(super) fn advance_sequence(conn: &Connection, sequence: Sequence, last: u64) -> StoreResult<()> {
    if last == 0 {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO sequences (name, last) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET last = max(last, excluded.last)",
        params![sequence.name(), to_i64(last)?],
    )
    .map_err(map_error)?;
    Ok(())
}

/// Why `customer` cannot be created: its ID is taken (the holder comes back), or a unique value.
fn conflict(conn: &Connection, customer: &Customer) -> StoreResult<Option<ImportOutcome>> {
    let merchant_id = to_i64(customer.merchant_id)?;
    let existing = conn
        .prepare_cached(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE merchant_id = ?1 AND id = ?2"))
        .map_err(map_error)?
        .query_row(params![merchant_id, to_i64(customer.id)?], customer_from_row)
        .optional()
        .map_err(map_error)?;
    if let Some(existing) = existing {
        return Ok(Some(ImportOutcome::Exists(Box::new(existing))));
    }
    for field in UniqueField::ALL {
        let Some(value) = customer.unique_value(field) else { continue };
        let sql = format!("SELECT 1 FROM customers WHERE merchant_id = ?1 AND {} = ?2", unique_column(field));
        if exists(conn, &sql, params![merchant_id, value])? {
            return Ok(Some(ImportOutcome::Duplicate(field)));
        }
    }
    Ok(None)
}

#[async_trait]
impl Operator for SqliteStore {
    fn import_batching(&self) -> ImportBatching {
        // One writer: a second batch in flight only queues behind the first, but keeps the
        // next one ready while the first commits.
        ImportBatching { customers: BATCH_CUSTOMERS, in_flight: 2 }
    }

    async fn import_customers(&self, batch: &[ImportedCustomer]) -> StoreResult<Vec<ImportOutcome>> {
        let batch = batch.to_vec();
        self.atomically(move |tx| {
            let mut insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO customers ({CUSTOMER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT DO NOTHING"
                ))
                .map_err(map_error)?;
            let mut pin = tx
                .prepare_cached(
                    "INSERT INTO pins (merchant_id, customer_id, pin_hash, failures, failures_expire_at)
                     VALUES (?1, ?2, ?3, 0, 0)
                     ON CONFLICT(merchant_id, customer_id)
                     DO UPDATE SET pin_hash = excluded.pin_hash, failures = 0, failures_expire_at = 0",
                )
                .map_err(map_error)?;
            let mut outcomes = Vec::with_capacity(batch.len());
            let mut last_id = 0;
            for imported in &batch {
                let customer = &imported.customer;
                let (merchant_id, id) = (to_i64(customer.merchant_id)?, to_i64(customer.id)?);
                // Unique indexes and the primary key refuse a clash; nothing is written then.
                let inserted = insert.execute(customer_row(customer)?)
                    .map_err(map_error)?;
                if inserted == 0 {
                    let outcome = conflict(tx, customer)?.ok_or_else(|| {
                        StoreError::Internal(format!("customer {} was not inserted, for no known reason", customer.id))
                    })?;
                    outcomes.push(outcome);
                    continue;
                }
                if let Some(pin_hash) = &imported.pin_hash {
                    pin.execute(params![merchant_id, id, pin_hash]).map_err(map_error)?;
                }
                last_id = last_id.max(customer.id);
                outcomes.push(ImportOutcome::Created);
            }
            // New customers get IDs past every imported one.
            advance_sequence(tx, Sequence::Customer, last_id)?;
            Ok(outcomes)
        })
        .await
    }

    async fn check_import(&self, batch: &[ImportedCustomer]) -> StoreResult<Vec<ImportOutcome>> {
        let batch = batch.to_vec();
        self.with(move |conn| {
            batch
                .iter()
                .map(|imported| Ok(conflict(conn, &imported.customer)?.unwrap_or(ImportOutcome::Created)))
                .collect()
        })
        .await
    }

    async fn export_page(
        &self,
        merchant_id: u64,
        cursor: Option<String>,
        limit: u32,
    ) -> StoreResult<(Vec<ImportedCustomer>, Option<String>)> {
        let after: i64 = match cursor {
            None => 0,
            Some(text) => text.parse().map_err(|_| StoreError::Internal(format!("bad export cursor {text:?}")))?,
        };
        self.with(move |conn| {
            let columns = CUSTOMER_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>();
            // The PIN comes after the customer's columns, however many they are.
            let pin_column = columns.len();
            let columns = columns.join(", ");
            let mut statement = conn
                .prepare_cached(&format!(
                    "SELECT {columns}, p.pin_hash FROM customers c
                     LEFT JOIN pins p ON p.merchant_id = c.merchant_id AND p.customer_id = c.id
                     WHERE c.merchant_id = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3"
                ))
                .map_err(map_error)?;
            let rows = statement
                .query_map(params![to_i64(merchant_id)?, after, i64::from(limit.max(1))], |row| {
                    Ok(ImportedCustomer { customer: customer_from_row(row)?, pin_hash: row.get(pin_column)? })
                })
                .map_err(map_error)?;
            let page = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(map_error)?;
            let next =
                (page.len() as u64 >= u64::from(limit.max(1))).then(|| page.last().map(|c| c.customer.id.to_string()));
            Ok((page, next.flatten()))
        })
        .await
    }

    async fn import_merchant(&self, merchant: &Merchant, api_key_hash: &str) -> StoreResult<MerchantImport> {
        let (merchant, hash) = (merchant.clone(), api_key_hash.to_string());
        self.atomically(move |tx| {
            let id = to_i64(merchant.id)?;
            let existing = tx
                .query_row("SELECT id, name, created_at FROM merchants WHERE id = ?1", params![id], |row| {
                    Ok(Merchant { id: to_u64(row.get(0)?)?, name: row.get(1)?, created_at: row.get(2)? })
                })
                .optional()
                .map_err(map_error)?;
            if let Some(existing) = existing {
                return Ok(MerchantImport::Exists(existing));
            }
            let holder: Option<i64> = tx
                .query_row("SELECT merchant_id FROM api_keys WHERE hash = ?1", params![hash], |row| row.get(0))
                .optional()
                .map_err(map_error)?;
            if let Some(holder) = holder {
                return Ok(MerchantImport::KeyTaken(to_u64(holder).map_err(map_error)?));
            }
            tx.execute(
                "INSERT INTO merchants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![id, merchant.name, merchant.created_at],
            )
            .map_err(map_error)?;
            tx.execute("INSERT INTO api_keys (hash, merchant_id) VALUES (?1, ?2)", params![hash, id])
                .map_err(map_error)?;
            advance_sequence(tx, Sequence::Merchant, merchant.id)?;
            Ok(MerchantImport::Created)
        })
        .await
    }

    async fn rotate_api_key(
        &self,
        merchant_id: u64,
        new_hash: &str,
        old_keys_expire_at: i64,
        now: i64,
    ) -> StoreResult<Option<u32>> {
        let hash = new_hash.to_string();
        self.atomically(move |tx| {
            let id = to_i64(merchant_id)?;
            if !exists(tx, "SELECT 1 FROM merchants WHERE id = ?1", params![id])? {
                return Ok(None);
            }
            let live: i64 = tx
                .query_row(
                    "SELECT count(*) FROM api_keys WHERE merchant_id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                    params![id, now],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            if old_keys_expire_at <= now {
                tx.execute("DELETE FROM api_keys WHERE merchant_id = ?1", params![id]).map_err(map_error)?;
            } else {
                // A key already due to expire sooner keeps its earlier expiry; expired ones go.
                tx.execute(
                    "UPDATE api_keys SET expires_at = ?2
                     WHERE merchant_id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                    params![id, old_keys_expire_at],
                )
                .map_err(map_error)?;
                tx.execute("DELETE FROM api_keys WHERE merchant_id = ?1 AND expires_at <= ?2", params![id, now])
                    .map_err(map_error)?;
            }
            tx.execute("INSERT INTO api_keys (hash, merchant_id) VALUES (?1, ?2)", params![hash, id])
                .map_err(map_error)?;
            Ok(Some(u32::try_from(live).unwrap_or(u32::MAX)))
        })
        .await
    }
}
