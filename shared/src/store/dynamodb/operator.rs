//! The operator's bulk calls on DynamoDB: customer imports as transactions of several customers
//! with their unique claims (several in flight, chosen by the caller), dry-run checks by
//! `BatchGetItem`, exports by `Scan`, merchant imports and key rotation.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::{
    ApiKeyItem, DynamoStore, Item, RACE_TURNS, UniqueClaim, classify, decode, encode, failed_at, key, n, number, pk, s,
    text,
};
use crate::store::{
    Customer, ImportBatching, ImportOutcome, ImportedCustomer, Merchant, MerchantImport, Operator, Sequence,
    StoreError, StoreResult, UniqueField,
};

/// A transaction holds at most 100 items; a customer is its record, up to four claims and a
/// PIN: 16 customers always fit.
const BATCH_CUSTOMERS: usize = 16;
/// Transactions in flight at once.
const IN_FLIGHT: usize = 8;

/// The index item that lists a merchant's keys (for rotation): `MERCHANT#{id}` / `APIKEY#{hash}`.
fn key_index_sk(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

/// An API key's expiry, on both its items.
#[derive(serde::Serialize)]
struct KeyIndexItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

impl DynamoStore {
    /// The puts of a new API key: the key itself (only if new) and its index item.
    pub(super) fn api_key_puts(
        &self,
        merchant_id: u64,
        hash: &str,
    ) -> StoreResult<Vec<aws_sdk_dynamodb::types::TransactWriteItem>> {
        Ok(vec![
            self.put(encode(pk::api_key(hash), "APIKEY", &ApiKeyItem { merchant_id, expires_at: None }, None)?)
                .only_if_new()
                .into_transact()?,
            self.put(encode(pk::merchant(merchant_id), &key_index_sk(hash), &KeyIndexItem { expires_at: None }, None)?)
                .into_transact()?,
        ])
    }

    /// Moves `sequence` to at least `last`.
    async fn advance_sequence(&self, sequence: Sequence, last: u64) -> StoreResult<()> {
        if last == 0 {
            return Ok(());
        }
        let update = self
            .update(pk::sequence(sequence.name()), "SEQUENCE", "SET #last = :last")
            .condition("attribute_not_exists(#last) OR #last < :last")
            .name("#last", "last")
            .value(":last", n(last));
        // A failed condition: the sequence is past `last` already.
        self.conditional_update(update).await?.ok();
        Ok(())
    }

    /// The keys of a merchant, by hash, with their expiry.
    async fn merchant_keys(&self, merchant_id: u64) -> StoreResult<Vec<(String, Option<i64>)>> {
        let items = self.query_prefix(pk::merchant(merchant_id), "APIKEY#").await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let hash = text(item, "sk")?.strip_prefix("APIKEY#")?.to_string();
                Some((hash, item.contains_key("expires_at").then(|| number(item, "expires_at"))))
            })
            .collect())
    }

    /// The stored items among `keys` (`BatchGetItem`, unprocessed keys asked again), by pk.
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<HashMap<String, Item>> {
        let mut found = HashMap::new();
        let mut pending = keys;
        for _ in 0..RACE_TURNS {
            if pending.is_empty() {
                return Ok(found);
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Internal(format!("building a batch read: {e}")))?;
            let output =
                self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(classify)?;
            for item in output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                if let Some(pk) = text(&item, "pk") {
                    found.insert(pk, item);
                }
            }
            pending =
                output.unprocessed_keys.and_then(|mut r| r.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
        }
        Err(StoreError::Unavailable("a batch read kept coming back unprocessed".into()))
    }
}

/// The existing customer a failed import transaction returned for item `index`, if it did.
fn returned_customer(reasons: &[aws_sdk_dynamodb::types::CancellationReason], index: usize) -> Option<Customer> {
    let item = reasons.get(index)?.item()?;
    decode(item.clone()).ok()
}

#[async_trait]
impl Operator for DynamoStore {
    fn import_batching(&self) -> ImportBatching {
        ImportBatching { customers: BATCH_CUSTOMERS, in_flight: IN_FLIGHT }
    }

    async fn import_customers(&self, batch: &[ImportedCustomer]) -> StoreResult<Vec<ImportOutcome>> {
        let mut outcomes: Vec<Option<ImportOutcome>> = vec![None; batch.len()];
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut turns = 0;
        while !pending.is_empty() {
            turns += 1;
            if turns > RACE_TURNS {
                return Err(StoreError::Unavailable("an import transaction kept being cancelled".into()));
            }
            // Each customer: its record (index `first`), its claims, its PIN.
            let mut items = Vec::new();
            let mut spans = Vec::new();
            for &i in &pending {
                let imported = &batch[i];
                let customer = &imported.customer;
                let first = items.len();
                items.push(
                    self.put(encode(pk::customer(customer.merchant_id, customer.id), "CUSTOMER", customer, None)?)
                        .only_if_new()
                        .into_transact()?,
                );
                let mut fields = Vec::new();
                for field in UniqueField::ALL {
                    if let Some(value) = customer.unique_value(field) {
                        let claim = UniqueClaim { customer_id: customer.id };
                        items.push(
                            self.put(encode(pk::unique(customer.merchant_id, field, value), "UNIQUE", &claim, None)?)
                                .only_if_new()
                                .into_transact()?,
                        );
                        fields.push(field);
                    }
                }
                if let Some(pin_hash) = &imported.pin_hash {
                    // Written only with the customer record, which must be new.
                    items.push(self.pin_put(customer.merchant_id, customer.id, pin_hash)?.into_transact()?);
                }
                spans.push((i, first, fields));
            }
            let Some(reasons) = self.transact(items).await? else {
                for &i in &pending {
                    outcomes[i] = Some(ImportOutcome::Created);
                }
                break;
            };
            // The customers whose conditions failed are answered; the others go again.
            let mut again = Vec::new();
            for (i, first, fields) in spans {
                if failed_at(&reasons, first) {
                    let customer = &batch[i].customer;
                    let existing = match returned_customer(&reasons, first) {
                        Some(existing) => Some(existing),
                        None => self.get_as(pk::customer(customer.merchant_id, customer.id), "CUSTOMER").await?,
                    };
                    match existing {
                        Some(existing) => outcomes[i] = Some(ImportOutcome::Exists(Box::new(existing))),
                        None => again.push(i),
                    }
                } else if let Some(field) =
                    fields.iter().enumerate().find(|(k, _)| failed_at(&reasons, first + 1 + k)).map(|(_, f)| *f)
                {
                    outcomes[i] = Some(ImportOutcome::Duplicate(field));
                } else {
                    again.push(i);
                }
            }
            if again.len() == pending.len() {
                return Err(StoreError::Internal(format!("import transaction cancelled: {reasons:?}")));
            }
            pending = again;
        }
        let last_id = batch
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| matches!(outcome, Some(ImportOutcome::Created)))
            .map(|(imported, _)| imported.customer.id)
            .max()
            .unwrap_or(0);
        // New customers get IDs past every imported one.
        self.advance_sequence(Sequence::Customer, last_id).await?;
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome.ok_or_else(|| StoreError::Internal("a customer of the batch was not answered".into()))
            })
            .collect()
    }

    async fn check_import(&self, batch: &[ImportedCustomer]) -> StoreResult<Vec<ImportOutcome>> {
        let mut keys = Vec::new();
        for imported in batch {
            let customer = &imported.customer;
            keys.push(key(pk::customer(customer.merchant_id, customer.id), "CUSTOMER"));
            for field in UniqueField::ALL {
                if let Some(value) = customer.unique_value(field) {
                    keys.push(key(pk::unique(customer.merchant_id, field, value), "UNIQUE"));
                }
            }
        }
        let found = self.batch_get(keys).await?;
        batch
            .iter()
            .map(|imported| {
                let customer = &imported.customer;
                if let Some(item) = found.get(&pk::customer(customer.merchant_id, customer.id)) {
                    return Ok(ImportOutcome::Exists(Box::new(decode(item.clone())?)));
                }
                let taken = UniqueField::ALL.into_iter().find(|field| {
                    customer
                        .unique_value(*field)
                        .is_some_and(|value| found.contains_key(&pk::unique(customer.merchant_id, *field, value)))
                });
                Ok(taken.map_or(ImportOutcome::Created, ImportOutcome::Duplicate))
            })
            .collect()
    }

    /// A scan of the table for the merchant's customer and PIN items. A customer's items share
    /// a partition key, which a scan returns together in sort-key order: `CUSTOMER`, then
    /// `PIN`. A PIN at the start of a page belongs to the previous page's last customer, whose
    /// PIN is read on its own there.
    async fn export_page(
        &self,
        merchant_id: u64,
        cursor: Option<String>,
        limit: u32,
    ) -> StoreResult<(Vec<ImportedCustomer>, Option<String>)> {
        let start = match cursor {
            None => None,
            Some(cursor) => {
                let (pk, sk) = cursor
                    .split_once('\n')
                    .ok_or_else(|| StoreError::Internal(format!("bad export cursor {cursor:?}")))?;
                Some(key(pk.to_string(), sk))
            }
        };
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :prefix) AND (sk = :customer OR sk = :pin)")
            .expression_attribute_values(":prefix", s(format!("CUSTOMER#{merchant_id}#")))
            .expression_attribute_values(":customer", s("CUSTOMER"))
            .expression_attribute_values(":pin", s("PIN"))
            .consistent_read(true)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let mut page: Vec<ImportedCustomer> = Vec::new();
        let mut last: Option<(String, String)> = None;
        for item in output.items.unwrap_or_default() {
            let (Some(pk), Some(sk)) = (text(&item, "pk"), text(&item, "sk")) else { continue };
            match sk.as_str() {
                "CUSTOMER" => page.push(ImportedCustomer { customer: decode(item)?, pin_hash: None }),
                _ => {
                    if let (Some(customer), Some((last_pk, last_sk))) = (page.last_mut(), &last)
                        && *last_pk == pk
                        && last_sk == "CUSTOMER"
                    {
                        customer.pin_hash = text(&item, "pin_hash");
                    }
                }
            }
            last = Some((pk, sk));
        }
        let next = output.last_evaluated_key.filter(|key| !key.is_empty()).and_then(|key| {
            let (AttributeValue::S(pk), AttributeValue::S(sk)) = (key.get("pk")?, key.get("sk")?) else {
                return None;
            };
            Some(format!("{pk}\n{sk}"))
        });
        if next.is_some()
            && let Some((last_pk, last_sk)) = &last
            && last_sk == "CUSTOMER"
            && let Some(customer) = page.last_mut()
        {
            customer.pin_hash = self.get(last_pk.clone(), "PIN").await?.and_then(|item| text(&item, "pin_hash"));
        }
        Ok((page, next))
    }

    async fn import_merchant(&self, merchant: &Merchant, api_key_hash: &str) -> StoreResult<MerchantImport> {
        let mut items = vec![
            self.put(encode(pk::merchant(merchant.id), "MERCHANT", merchant, None)?).only_if_new().into_transact()?,
        ];
        items.extend(self.api_key_puts(merchant.id, api_key_hash)?);
        let Some(reasons) = self.transact(items).await? else {
            self.advance_sequence(Sequence::Merchant, merchant.id).await?;
            return Ok(MerchantImport::Created);
        };
        if failed_at(&reasons, 0) {
            let existing: Option<Merchant> = self.get_as(pk::merchant(merchant.id), "MERCHANT").await?;
            return existing
                .map(MerchantImport::Exists)
                .ok_or_else(|| StoreError::Internal("merchant import cancelled by a merchant that is gone".into()));
        }
        if failed_at(&reasons, 1) {
            let holder: Option<ApiKeyItem> = self.get_as(pk::api_key(api_key_hash), "APIKEY").await?;
            return Ok(MerchantImport::KeyTaken(holder.map_or(0, |h| h.merchant_id)));
        }
        Err(StoreError::Internal(format!("merchant import cancelled: {reasons:?}")))
    }

    async fn rotate_api_key(
        &self,
        merchant_id: u64,
        new_hash: &str,
        old_keys_expire_at: i64,
        now: i64,
    ) -> StoreResult<Option<u32>> {
        for _ in 0..RACE_TURNS {
            let Some(merchant) = self.get(pk::merchant(merchant_id), "MERCHANT").await? else {
                return Ok(None);
            };
            // Rotations of one merchant take turns: each moves this number on, conditionally.
            let seen = number(&merchant, "key_rotation");
            let keys = self.merchant_keys(merchant_id).await?;
            let mut items = vec![
                self.update(pk::merchant(merchant_id), "MERCHANT", "SET key_rotation = :next")
                    .condition("attribute_exists(pk) AND (attribute_not_exists(key_rotation) OR key_rotation = :seen)")
                    .value(":next", n(seen + 1))
                    .value(":seen", n(seen))
                    .into_transact()?,
            ];
            items.extend(self.api_key_puts(merchant_id, new_hash)?);
            let mut live = 0;
            for (hash, expires_at) in keys {
                let is_live = expires_at.is_none_or(|at| at > now);
                live += u32::from(is_live);
                if !is_live || old_keys_expire_at <= now {
                    items.push(self.delete_op(pk::api_key(&hash), "APIKEY").into_transact()?);
                    items.push(self.delete_op(pk::merchant(merchant_id), &key_index_sk(&hash)).into_transact()?);
                } else if expires_at.is_none_or(|at| at > old_keys_expire_at) {
                    for (pk, sk) in
                        [(pk::api_key(&hash), "APIKEY".to_string()), (pk::merchant(merchant_id), key_index_sk(&hash))]
                    {
                        items.push(
                            self.update(pk, &sk, "SET expires_at = :at, #ttl = :at")
                                .condition("attribute_exists(pk)")
                                .name("#ttl", "ttl")
                                .value(":at", n(old_keys_expire_at))
                                .into_transact()?,
                        );
                    }
                }
            }
            if items.len() > 100 {
                return Err(StoreError::Internal(format!(
                    "merchant {merchant_id} has too many API keys to rotate in one transaction"
                )));
            }
            match self.transact(items).await? {
                None => return Ok(Some(live)),
                // Another rotation (or a key expiring) came first: read again.
                Some(reasons)
                    if failed_at(&reasons, 0)
                        || reasons.iter().skip(3).any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    continue;
                }
                Some(reasons) => return Err(StoreError::Internal(format!("key rotation cancelled: {reasons:?}"))),
            }
        }
        Err(StoreError::Unavailable("the merchant's keys kept changing during rotation".into()))
    }
}
