//! The DynamoDB store: one table, keys `pk` and `sk`, TTL attribute `ttl`.
//!
//! | record            | pk                            | sk                |
//! |-------------------|-------------------------------|-------------------|
//! | setting           | `SETTING#{name}`              | `SETTING`         |
//! | ID sequence       | `SEQUENCE#{name}`             | `SEQUENCE`        |
//! | merchant          | `MERCHANT#{id}`               | `MERCHANT`        |
//! | template          | `MERCHANT#{id}`               | `TEMPLATE#{code}` |
//! | API key           | `APIKEY#{hash}`               | `APIKEY`          |
//! | a merchant's key  | `MERCHANT#{id}`               | `APIKEY#{hash}`   |
//! | customer          | `CUSTOMER#{merchant}#{id}`    | `CUSTOMER`        |
//! | PIN + failures    | `CUSTOMER#{merchant}#{id}`    | `PIN`             |
//! | OTP / reset token | `CUSTOMER#{merchant}#{id}`    | `OTP#{purpose}`   |
//! | security event    | `CUSTOMER#{merchant}#{id}`    | `EVENT#{event id}` |
//! | deliveries (last outcome, suppressed addresses) | `CUSTOMER#{merchant}#{id}` | `DELIVERY` |
//! | unique claim      | `UNIQUE#{merchant}#{field}#{value}` | `UNIQUE`    |
//! | counter           | `COUNTER#{kind}#{key}`        | `COUNTER`         |
//! | v2 app key        | `APPKEY#{hash}`               | `APPKEY`          |
//! | delivery mark     | `DELIVERY#{event id}`         | `DELIVERY`        |
//!
//! A v2 app key is live while its `generation` equals its customer's `key_generation`: a
//! reset through the emailed token moves the customer on and so revokes every key in the same
//! write. A revoked key's item stays until its logout; whoever reads the table directly must
//! compare the two.
//!
//! The `pk` prefixes are `store::layout::Partition`'s: IAM gives each function only the
//! partitions its route declares (`dynamodb:LeadingKeys`). Counter kinds are `layout::CounterKind`'s
//! (`store::keys`).
//!
//! Records that expire carry `ttl` (epoch seconds) and every read and condition also compares
//! their expiry with the request's clock, because DynamoDB deletes expired items late.
//! A customer's security events sort by their ID, which starts with the event's time
//! (`history::new_id`): the history is one query of the customer's partition, newest first,
//! from the oldest time still kept (`EVENT#{since}`), and each event's `ttl` is the end of the
//! retention.
//! Uniqueness is a claim item written in the same transaction as the customer. Every call
//! runs under the client's operation timeout; a timeout, a network failure, throttling or a
//! 5xx is `StoreError::Unavailable` (503, and a failed write or transaction changed nothing).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, ConditionCheck, Delete, KeySchemaElement,
    KeyType, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use serde::Serialize;

use crate::aws::AwsFailure;
use serde::de::DeserializeOwned;

use super::ids::IdBlocks;

use super::{
    AppKey, AppKeys, ConsoleSession, ContactChange, CounterPolicy, CounterState, Counters, Customer, Customers,
    Deliveries, DeliveryOutcome, DeliveryOutcomes, DeliveryState, EventPage, History, Merchant, Merchants, NewCustomer,
    OtpEffect, OtpRecord, Otps, PinAttempt, PinCondition, PinState, Pins, Reservation, SecurityEvent, Sequence,
    Sessions, Setup, StoreError, StoreResult, Suppression, Template, Templates, UniqueField, Window,
};
use crate::delivery::Channel;
use crate::domain::otp::OtpPurpose;
use crate::domain::rules::{self, Counted};

mod operator;

type Item = HashMap<String, AttributeValue>;

/// How often a transaction that collided with another one is tried before giving up (503).
const CONFLICT_RETRIES: u32 = 8;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The ID blocks this process reserved (shared by its clones).
    ids: Arc<IdBlocks>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore").field("table", &self.table).finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A store on `table` with a client configured by the SDK's default chain (the CLI's).
    #[cfg(feature = "aws-default-chain")]
    pub async fn connect(table: String, timeout: Duration) -> StoreResult<DynamoStore> {
        let sdk = crate::aws::default_chain_sdk_config(timeout).await.map_err(StoreError::Internal)?;
        Ok(DynamoStore::new(Client::new(&sdk), table))
    }

    /// A store on `table` through an already configured client.
    pub fn new(client: Client, table: String) -> DynamoStore {
        DynamoStore { client, table, ids: Arc::new(IdBlocks::default()) }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item)
    }

    async fn get_as<T: DeserializeOwned>(&self, pk: String, sk: &str) -> StoreResult<Option<T>> {
        self.get(pk, sk).await?.map(decode).transpose()
    }

    async fn delete(&self, pk: String, sk: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Runs a transaction. `Ok(None)`: it committed. `Ok(Some(reasons))`: a condition failed
    /// and nothing was written; `reasons[i]` says why item `i` failed, if it did. Collisions
    /// with concurrent transactions are retried with a short random pause.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<Option<Vec<CancellationReason>>> {
        let mut attempt = 0;
        loop {
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let error = match result {
                Ok(_) => return Ok(None),
                Err(error) => error,
            };
            if let SdkError::ServiceError(service) = &error
                && let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err()
            {
                let reasons = cancelled.cancellation_reasons().to_vec();
                let collided = reasons.iter().any(|r| r.code() == Some("TransactionConflict"));
                if !collided {
                    return Ok(Some(reasons));
                }
                attempt += 1;
                if attempt >= CONFLICT_RETRIES {
                    return Err(StoreError::Unavailable("transaction kept colliding with others".into()));
                }
                tokio::time::sleep(jitter(attempt)).await;
                continue;
            }
            return Err(classify(error));
        }
    }

    fn put(&self, item: Item) -> PutBuilder {
        PutBuilder { table: self.table.clone(), item, condition: None, names: HashMap::new(), values: HashMap::new() }
    }

    fn update(&self, pk: String, sk: &str, expression: &str) -> UpdateBuilder {
        UpdateBuilder {
            table: self.table.clone(),
            key: key(pk, sk),
            expression: expression.to_string(),
            condition: None,
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    fn delete_op(&self, pk: String, sk: &str) -> DeleteBuilder {
        DeleteBuilder { table: self.table.clone(), key: key(pk, sk), condition: None, values: HashMap::new() }
    }

    /// Runs a single conditional update: `Ok(Ok(new item))` when it wrote, `Ok(Err(old item))`
    /// when the condition failed (`None` when there was no item).
    async fn conditional_update(&self, update: UpdateBuilder) -> StoreResult<Result<Item, Option<Item>>> {
        let result = self
            .client
            .update_item()
            .table_name(update.table)
            .set_key(Some(update.key))
            .update_expression(update.expression)
            .set_condition_expression(update.condition)
            .set_expression_attribute_names((!update.names.is_empty()).then_some(update.names))
            .set_expression_attribute_values((!update.values.is_empty()).then_some(update.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Ok(output.attributes.unwrap_or_default())),
            Err(SdkError::ServiceError(service)) if service.err().is_conditional_check_failed_exception() => {
                let old = match service.into_err() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(e) => {
                        e.item
                    }
                    _ => None,
                };
                Ok(Err(old))
            }
            Err(error) => Err(classify(error)),
        }
    }

    /// Runs a single conditional put: `true` when it wrote.
    async fn conditional_put(&self, put: PutBuilder) -> StoreResult<bool> {
        let result = self
            .client
            .put_item()
            .table_name(put.table)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition)
            .set_expression_attribute_names((!put.names.is_empty()).then_some(put.names))
            .set_expression_attribute_values((!put.values.is_empty()).then_some(put.values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(service)) if service.err().is_conditional_check_failed_exception() => Ok(false),
            Err(error) => Err(classify(error)),
        }
    }
}

/// A short random pause before retrying a collided transaction: 10-40 ms, growing.
fn jitter(attempt: u32) -> Duration {
    let random = crate::random::random_bytes::<1>().map(|b| u64::from(b[0])).unwrap_or(128);
    Duration::from_millis(10 * u64::from(attempt.min(4)) + random % 30)
}

/// Any SDK failure: unavailable when retrying later can help, internal otherwise.
fn classify<E>(error: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match crate::aws::classify("DynamoDB", &error) {
        AwsFailure::Unavailable(reason) => StoreError::Unavailable(reason),
        AwsFailure::Refused { code, message } => StoreError::Internal(format!("DynamoDB: {code}: {message}")),
        AwsFailure::Other(reason) => StoreError::Internal(reason),
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// A record as an item: its fields (through `serde_dynamo`), its keys and, for records that
/// expire, `ttl`.
fn encode<T: Serialize>(pk: String, sk: &str, record: &T, ttl: Option<i64>) -> StoreResult<Item> {
    let mut item: Item = serde_dynamo::aws_sdk_dynamodb_1::to_item(record)
        .map_err(|e| StoreError::Internal(format!("encoding a record: {e}")))?;
    item.extend(key(pk, sk));
    if let Some(ttl) = ttl {
        item.insert("ttl".to_string(), n(ttl));
    }
    Ok(item)
}

fn decode<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| StoreError::Internal(format!("decoding a record: {e}")))
}

fn number(item: &Item, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(text)) => text.parse().unwrap_or(0),
        _ => 0,
    }
}

fn count(item: &Item, name: &str) -> u32 {
    u32::try_from(number(item, name).max(0)).unwrap_or(u32::MAX)
}

fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Some(text.clone()),
        _ => None,
    }
}

fn failed_at(reasons: &[CancellationReason], index: usize) -> bool {
    reasons.get(index).and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

/// The customer ID in the unique claim that failed item `index`'s condition (the old item comes
/// back with the cancellation reason).
fn claim_holder(reasons: &[CancellationReason], index: usize) -> Option<u64> {
    let reason = reasons.get(index).filter(|_| failed_at(reasons, index))?;
    match reason.item()?.get("customer_id")? {
        AttributeValue::N(id) => id.parse().ok(),
        _ => None,
    }
}

/// Partition keys, each the prefix of its `layout::Partition` and the record's identity.
mod pk {
    use crate::domain::otp::OtpPurpose;
    use crate::store::UniqueField;
    use crate::store::layout::{COUNTER_PREFIX, Partition};

    pub fn setting(name: &str) -> String {
        format!("{}{name}", Partition::Setting.prefix())
    }
    pub fn sequence(name: &str) -> String {
        format!("{}{name}", Partition::Sequence.prefix())
    }
    pub fn merchant(id: u64) -> String {
        format!("{}{id}", Partition::Merchant.prefix())
    }
    pub fn api_key(hash: &str) -> String {
        format!("{}{hash}", Partition::ApiKey.prefix())
    }
    pub fn customer(merchant_id: u64, id: u64) -> String {
        format!("{}{merchant_id}#{id}", Partition::Customer.prefix())
    }
    pub fn unique(merchant_id: u64, field: UniqueField, value: &str) -> String {
        format!("{}{merchant_id}#{}#{value}", Partition::Unique.prefix(), field.as_str())
    }
    /// `key` starts with its `CounterKind`'s prefix (`store::keys`).
    pub fn counter(key: &str) -> String {
        format!("{COUNTER_PREFIX}{key}")
    }
    pub fn app_key(hash: &str) -> String {
        format!("{}{hash}", Partition::AppKey.prefix())
    }
    pub fn delivery(event_id: &str) -> String {
        format!("{}{event_id}", Partition::Delivery.prefix())
    }
    pub fn session(id_hash: &str) -> String {
        format!("{}{id_hash}", Partition::Session.prefix())
    }
    pub fn otp_sk(purpose: OtpPurpose) -> String {
        format!("OTP#{}", purpose.as_str())
    }
    pub fn template_sk(code: &str) -> String {
        format!("TEMPLATE#{code}")
    }
    pub fn event_sk(id: &str) -> String {
        format!("EVENT#{id}")
    }
    /// The customer's deliveries item.
    pub const DELIVERIES_SK: &str = "DELIVERY";
    /// The attribute of the deliveries item holding a channel's suppression.
    pub fn suppressed(channel: crate::delivery::Channel) -> String {
        format!("suppressed_{}", channel.as_str())
    }
}

/// One `Put` of a transaction or a single conditional put.
struct PutBuilder {
    table: String,
    item: Item,
    condition: Option<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl PutBuilder {
    fn only_if_new(mut self) -> Self {
        self.condition = Some("attribute_not_exists(pk)".into());
        self
    }

    fn condition(mut self, condition: &str) -> Self {
        self.condition = Some(condition.into());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    fn into_transact(self) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(self.table)
            .set_item(Some(self.item))
            .set_condition_expression(self.condition)
            .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Internal(format!("building a put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

/// One `Update` of a transaction or a single conditional update.
struct UpdateBuilder {
    table: String,
    key: Item,
    expression: String,
    condition: Option<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl UpdateBuilder {
    fn condition(mut self, condition: &str) -> Self {
        self.condition = Some(condition.into());
        self
    }

    fn name(mut self, placeholder: &str, name: &str) -> Self {
        self.names.insert(placeholder.into(), name.into());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    fn into_transact(self) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(self.table)
            .set_key(Some(self.key))
            .update_expression(self.expression)
            .set_condition_expression(self.condition)
            .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Internal(format!("building an update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// One `Delete` of a transaction.
struct DeleteBuilder {
    table: String,
    key: Item,
    condition: Option<String>,
    values: Item,
}

impl DeleteBuilder {
    fn condition(mut self, condition: &str) -> Self {
        self.condition = Some(condition.into());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }

    fn into_transact(self) -> StoreResult<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(self.table)
            .set_key(Some(self.key))
            .set_condition_expression(self.condition)
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .build()
            .map_err(|e| StoreError::Internal(format!("building a delete: {e}")))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// The stored form of a PIN: its hash and the failure count that guards it.
#[derive(serde::Serialize)]
struct PinItem<'a> {
    pin_hash: &'a str,
    failures: u32,
    failures_expire_at: i64,
}

/// A claim on a unique field: which customer holds it.
#[derive(serde::Serialize, serde::Deserialize)]
struct UniqueClaim {
    customer_id: u64,
}

/// An API key's record; a rotated key with a grace period ends at `expires_at` (also its `ttl`).
#[derive(serde::Serialize, serde::Deserialize)]
struct ApiKeyItem {
    merchant_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CounterItem {
    count: u32,
    expires_at: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ValueItem {
    value: String,
}

#[derive(serde::Serialize)]
struct DeliveryItem {
    expires_at: i64,
    /// Random per claim: lets a retried put recognise its own first write (see `claim_delivery`).
    claim: String,
}

impl DynamoStore {
    /// Moves `sequence` on by `size` in one atomic `ADD` and answers its new value: the last
    /// ID of a block no other caller can get.
    async fn reserve_ids(&self, sequence: Sequence, size: u64) -> StoreResult<u64> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk::sequence(sequence.name())))
            .key("sk", s("SEQUENCE"))
            .update_expression("ADD #last :size")
            .expression_attribute_names("#last", "last")
            .expression_attribute_values(":size", n(size))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify)?;
        let last = output.attributes.as_ref().map_or(0, |item| number(item, "last"));
        u64::try_from(last).map_err(|_| StoreError::Internal("bad sequence value".into()))
    }

    fn pin_put(&self, merchant_id: u64, customer_id: u64, pin_hash: &str) -> StoreResult<PutBuilder> {
        let item = PinItem { pin_hash, failures: 0, failures_expire_at: 0 };
        Ok(self.put(encode(pk::customer(merchant_id, customer_id), "PIN", &item, None)?))
    }

    /// The deletes of every password-reset record of a customer.
    fn password_reset_deletes(&self, merchant_id: u64, customer_id: u64) -> StoreResult<Vec<TransactWriteItem>> {
        OtpPurpose::PASSWORD_RESETS
            .iter()
            .map(|purpose| {
                self.delete_op(pk::customer(merchant_id, customer_id), &pk::otp_sk(*purpose)).into_transact()
            })
            .collect()
    }

    /// A counter update (also for a transaction): the first event of a counter that does not
    /// exist, or one more in a live window below the limit. A counter whose window has passed
    /// fails the condition and is restarted by `counter_start`.
    fn counter_increment(&self, key: &str, policy: CounterPolicy, now: i64) -> UpdateBuilder {
        let expression = match policy.window {
            Window::Fixed => {
                "SET #count = if_not_exists(#count, :zero) + :one, expires_at = if_not_exists(expires_at, :expires), \
                 #ttl = if_not_exists(#ttl, :expires)"
            }
            Window::Sliding => {
                "SET #count = if_not_exists(#count, :zero) + :one, expires_at = :expires, #ttl = :expires"
            }
        };
        self.update(pk::counter(key), "COUNTER", expression)
            .condition("attribute_not_exists(pk) OR (expires_at > :now AND #count < :limit)")
            .name("#count", "count")
            .name("#ttl", "ttl")
            .value(":zero", n(0))
            .value(":one", n(1))
            .value(":now", n(now))
            .value(":limit", n(policy.limit))
            .value(":expires", n(policy.next_expiry(None, now)))
    }

    /// A counter put for a transaction: the first event of a new window.
    fn counter_start(&self, key: &str, policy: CounterPolicy, now: i64) -> StoreResult<PutBuilder> {
        let expires_at = policy.next_expiry(None, now);
        let item = CounterItem { count: 1, expires_at };
        Ok(self
            .put(encode(pk::counter(key), "COUNTER", &item, Some(expires_at))?)
            .condition("attribute_not_exists(pk) OR expires_at <= :now")
            .value(":now", n(now)))
    }
}

impl DynamoStore {
    /// Every item under `pk` whose sort key starts with `prefix`, read consistently, page by
    /// page.
    async fn query_prefix(&self, pk: String, prefix: &str) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}

/// What a failed counter condition says about the counter: `None` when it is absent or
/// expired (start a new window), else its live count and expiry.
fn live_counter(old: Option<&Item>, now: i64) -> Option<(u32, i64)> {
    let stored = old.map(|old| Counted { count: count(old, "count"), expires_at: number(old, "expires_at") });
    Counted::live(stored, now).map(|live| (live.count, live.expires_at))
}

/// Bounds the optimistic loops: each turn means another writer made progress.
const RACE_TURNS: usize = 16;

/// A customer ID no customer has (IDs start at 1): what an unclaimed lookup reads.
const NO_CUSTOMER: u64 = 0;

#[async_trait]
impl Setup for DynamoStore {
    async fn init(&self) -> StoreResult<()> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))
        };
        let key_element = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .key_schema(key_element("pk", KeyType::Hash)?)
            .key_schema(key_element("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(SdkError::ServiceError(service)) if service.err().is_resource_in_use_exception() => return Ok(()),
            Err(error) => return Err(classify(error)),
        }
        // A new table takes a moment to become active on AWS.
        for _ in 0..120 {
            let table = self.client.describe_table().table_name(&self.table).send().await.map_err(classify)?;
            let status = table.table.and_then(|t| t.table_status);
            if status == Some(aws_sdk_dynamodb::types::TableStatus::Active) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("ttl")
            .enabled(true)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String> {
        let item = encode(pk::setting(name), "SETTING", &ValueItem { value: candidate.to_string() }, None)?;
        if self.conditional_put(self.put(item).only_if_new()).await? {
            return Ok(candidate.to_string());
        }
        let stored: Option<ValueItem> = self.get_as(pk::setting(name), "SETTING").await?;
        stored.map(|s| s.value).ok_or_else(|| StoreError::Internal(format!("setting {name} vanished")))
    }

    /// One `ADD` of a whole block to the sequence's item per block (`ids`); the other IDs of
    /// the block cost no call.
    async fn next_id(&self, sequence: Sequence) -> StoreResult<u64> {
        self.ids.next(sequence, |size| self.reserve_ids(sequence, size)).await
    }
}

#[async_trait]
impl Merchants for DynamoStore {
    async fn create_merchant(&self, merchant: &Merchant, api_key_hash: &str) -> StoreResult<()> {
        let mut items = vec![
            self.put(encode(pk::merchant(merchant.id), "MERCHANT", merchant, None)?).only_if_new().into_transact()?,
        ];
        items.extend(self.api_key_puts(merchant.id, api_key_hash)?);
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::AlreadyExists),
        }
    }

    async fn merchant(&self, id: u64) -> StoreResult<Option<Merchant>> {
        self.get_as(pk::merchant(id), "MERCHANT").await
    }

    async fn merchant_id_by_api_key(&self, api_key_hash: &str, now: i64) -> StoreResult<Option<u64>> {
        let item: Option<ApiKeyItem> = self.get_as(pk::api_key(api_key_hash), "APIKEY").await?;
        Ok(item.filter(|item| item.expires_at.is_none_or(|at| at > now)).map(|item| item.merchant_id))
    }
}

#[async_trait]
impl Customers for DynamoStore {
    async fn create_customer(&self, new: NewCustomer, app_key: Option<&AppKey>) -> StoreResult<Customer> {
        let given_id = new.id;
        for _ in 0..RACE_TURNS {
            let id = match given_id {
                Some(id) => id,
                None => self.next_id(Sequence::Customer).await?,
            };
            let customer = new.clone().into_customer(id);
            let mut fields = Vec::new();
            let mut items = vec![
                self.put(encode(pk::customer(customer.merchant_id, id), "CUSTOMER", &customer, None)?).only_if_new(),
            ];
            for field in UniqueField::ALL {
                if let Some(value) = customer.unique_value(field) {
                    let claim = UniqueClaim { customer_id: id };
                    items.push(
                        self.put(encode(pk::unique(customer.merchant_id, field, value), "UNIQUE", &claim, None)?)
                            .only_if_new(),
                    );
                    fields.push(field);
                }
            }
            if let Some(key) = app_key {
                let key = AppKey { customer_id: id, ..key.clone() };
                items.push(self.put(encode(pk::app_key(&key.key_hash), "APPKEY", &key, None)?).only_if_new());
            }
            let items = items.into_iter().map(PutBuilder::into_transact).collect::<StoreResult<Vec<_>>>()?;
            let Some(reasons) = self.transact(items).await? else {
                return Ok(customer);
            };
            // A claim holding the ID this call allocated: an attempt whose answer was lost had
            // committed and its retry met our own writes (moto ignores the SDK's idempotency
            // token; DynamoDB answers such a retry with success itself). A given ID (an import)
            // is different: finding it means the customer was already there, `AlreadyExists`.
            if given_id.is_none() && (1..=fields.len()).any(|i| claim_holder(&reasons, i) == Some(id)) {
                return Ok(customer);
            }
            if let Some(field) = fields.iter().enumerate().find(|(i, _)| failed_at(&reasons, i + 1)).map(|(_, f)| *f) {
                return Err(StoreError::Duplicate(field));
            }
            if failed_at(&reasons, 0) {
                if given_id.is_some() {
                    return Err(StoreError::AlreadyExists);
                }
                // An import holds this ID, so it probably holds more of the block: the next
                // ID comes from a new block, past the import's.
                self.ids.discard(Sequence::Customer).await;
                continue;
            }
            return Err(StoreError::Internal(format!("customer creation cancelled: {reasons:?}")));
        }
        Err(StoreError::Unavailable("could not allocate a free customer ID".into()))
    }

    async fn customer(&self, merchant_id: u64, id: u64) -> StoreResult<Option<Customer>> {
        self.get_as(pk::customer(merchant_id, id), "CUSTOMER").await
    }

    async fn customer_by(&self, merchant_id: u64, field: UniqueField, value: &str) -> StoreResult<Option<Customer>> {
        let claim: Option<UniqueClaim> = self.get_as(pk::unique(merchant_id, field, value), "UNIQUE").await?;
        match claim {
            Some(claim) => self.customer(merchant_id, claim.customer_id).await,
            None => Ok(None),
        }
    }

    async fn update_contact(
        &self,
        merchant_id: u64,
        customer_id: u64,
        change: &ContactChange,
    ) -> StoreResult<Option<Customer>> {
        for _ in 0..RACE_TURNS {
            let Some(current) = self.customer(merchant_id, customer_id).await? else {
                return Ok(None);
            };
            let mut updated = current.clone();
            let mut fields = Vec::new();
            if let Some(email) = &change.email {
                updated.email = email.clone();
                fields.push((UniqueField::Email, "email", ":email", ":old_email"));
            }
            if let Some(mobile) = &change.mobile {
                updated.mobile = mobile.clone();
                fields.push((UniqueField::Mobile, "mobile", ":mobile", ":old_mobile"));
            }
            // Only while the fields are still what was read: a concurrent change retries.
            let (mut sets, mut removes, mut conditions) =
                (Vec::new(), Vec::new(), vec!["attribute_exists(pk)".to_string()]);
            let mut update = self.update(pk::customer(merchant_id, customer_id), "CUSTOMER", "");
            let mut claims = Vec::new();
            let mut new_claims = Vec::new();
            for (field, name, placeholder, old_placeholder) in &fields {
                let (old, new) = (current.unique_value(*field), updated.unique_value(*field));
                match old {
                    Some(old) => {
                        conditions.push(format!("{name} = {old_placeholder}"));
                        update = update.value(old_placeholder, s(old));
                    }
                    None => conditions.push(format!("attribute_not_exists({name})")),
                }
                match new {
                    Some(new) => {
                        sets.push(format!("{name} = {placeholder}"));
                        update = update.value(placeholder, s(new));
                    }
                    None => removes.push(name.to_string()),
                }
                if old == new {
                    continue;
                }
                if let Some(old) = old {
                    claims.push(
                        self.delete_op(pk::unique(merchant_id, *field, old), "UNIQUE")
                            .condition("customer_id = :me")
                            .value(":me", n(customer_id))
                            .into_transact()?,
                    );
                }
                if let Some(new) = new {
                    let claim = UniqueClaim { customer_id };
                    new_claims.push((*field, claims.len()));
                    claims.push(
                        self.put(encode(pk::unique(merchant_id, *field, new), "UNIQUE", &claim, None)?)
                            .only_if_new()
                            .into_transact()?,
                    );
                }
            }
            if fields.is_empty() {
                return Ok(Some(current));
            }
            let mut expression = String::new();
            if !sets.is_empty() {
                expression.push_str(&format!("SET {}", sets.join(", ")));
            }
            if !removes.is_empty() {
                expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
            }
            update.expression = expression.trim().to_string();
            let update = update.condition(&conditions.join(" AND "));
            let suppressions: Vec<String> = change.channels().into_iter().map(pk::suppressed).collect();
            let lift = self
                .update(
                    pk::customer(merchant_id, customer_id),
                    pk::DELIVERIES_SK,
                    &format!("REMOVE {}", suppressions.join(", ")),
                )
                .into_transact()?;
            let mut items = vec![update.into_transact()?];
            items.extend(claims);
            items.push(lift);
            let Some(reasons) = self.transact(items).await? else {
                return Ok(Some(updated));
            };
            if let Some((field, _)) = new_claims.iter().find(|(_, index)| failed_at(&reasons, index + 1)) {
                return Err(StoreError::Duplicate(*field));
            }
            if failed_at(&reasons, 0) {
                continue;
            }
            return Err(StoreError::Internal(format!("contact change cancelled: {reasons:?}")));
        }
        Err(StoreError::Unavailable("the customer kept changing under contention".into()))
    }

    /// Two reads, hit or miss: a miss reads customer 0, which never exists (IDs start at 1).
    async fn customer_by_evenly(
        &self,
        merchant_id: u64,
        field: UniqueField,
        value: &str,
    ) -> StoreResult<Option<Customer>> {
        let claim: Option<UniqueClaim> = self.get_as(pk::unique(merchant_id, field, value), "UNIQUE").await?;
        let customer = self.customer(merchant_id, claim.as_ref().map_or(NO_CUSTOMER, |c| c.customer_id)).await?;
        Ok(customer.filter(|_| claim.is_some()))
    }

    async fn set_password(
        &self,
        merchant_id: u64,
        customer_id: u64,
        password_hash: &str,
        current: Option<&str>,
    ) -> StoreResult<bool> {
        let mut update = self
            .update(pk::customer(merchant_id, customer_id), "CUSTOMER", "SET password_hash = :hash")
            .value(":hash", s(password_hash));
        update = match current {
            None => update.condition("attribute_exists(pk)"),
            Some(current) => update.condition("password_hash = :current").value(":current", s(current)),
        };
        let mut items = vec![update.into_transact()?];
        items.extend(self.password_reset_deletes(merchant_id, customer_id)?);
        Ok(self.transact(items).await?.is_none())
    }
}

#[async_trait]
impl Counters for DynamoStore {
    async fn reserve(&self, key: &str, policy: CounterPolicy, now: i64) -> StoreResult<Reservation> {
        for _ in 0..RACE_TURNS {
            let increment = self.counter_increment(key, policy, now);
            match self.conditional_update(increment).await? {
                Ok(new) => {
                    return Ok(Reservation {
                        granted: true,
                        count: count(&new, "count"),
                        expires_at: number(&new, "expires_at"),
                    });
                }
                Err(old) => {
                    if let Some((count, expires_at)) = live_counter(old.as_ref(), now) {
                        if count >= policy.limit {
                            return Ok(Reservation { granted: false, count, expires_at });
                        }
                        continue;
                    }
                }
            }
            if self.conditional_put(self.counter_start(key, policy, now)?).await? {
                return Ok(Reservation { granted: true, count: 1, expires_at: policy.next_expiry(None, now) });
            }
        }
        Err(StoreError::Unavailable("counter kept changing under contention".into()))
    }

    async fn release(&self, key: &str, now: i64) -> StoreResult<()> {
        let update = self
            .update(pk::counter(key), "COUNTER", "SET #count = #count - :one")
            .condition("#count > :zero AND expires_at > :now")
            .name("#count", "count")
            .value(":one", n(1))
            .value(":zero", n(0))
            .value(":now", n(now));
        self.conditional_update(update).await?.ok();
        Ok(())
    }

    async fn counter(&self, key: &str, now: i64) -> StoreResult<CounterState> {
        let item: Option<CounterItem> = self.get_as(pk::counter(key), "COUNTER").await?;
        Ok(rules::read(item.map(|item| Counted { count: item.count, expires_at: item.expires_at }), now))
    }

    async fn clear_counter(&self, key: &str) -> StoreResult<()> {
        self.delete(pk::counter(key), "COUNTER").await
    }
}

#[async_trait]
impl Pins for DynamoStore {
    async fn put_pin(
        &self,
        merchant_id: u64,
        customer_id: u64,
        pin_hash: &str,
        condition: PinCondition<'_>,
    ) -> StoreResult<bool> {
        let put = self.pin_put(merchant_id, customer_id, pin_hash)?;
        // `OR pin_hash = :own`: a hash has a random salt, so finding it stored means a retried
        // attempt met its own first write (a conditional put has no idempotency token).
        let put = match condition {
            PinCondition::Any => put,
            PinCondition::Unset => {
                put.condition("attribute_not_exists(pk) OR pin_hash = :own").value(":own", s(pin_hash))
            }
            PinCondition::Current(current) => put
                .condition("pin_hash = :current OR pin_hash = :own")
                .value(":current", s(current))
                .value(":own", s(pin_hash)),
        };
        self.conditional_put(put).await
    }

    /// 1 call when there is no live failure window or it has room; 2 the first time after a
    /// window has lapsed (the stale count is restarted).
    async fn reserve_pin_attempt(
        &self,
        merchant_id: u64,
        customer_id: u64,
        policy: CounterPolicy,
        now: i64,
    ) -> StoreResult<PinAttempt> {
        let expires = now.saturating_add(policy.window_secs);
        for _ in 0..RACE_TURNS {
            // A clean record (no failures) or a live window with room: one more failure.
            let increment = self
                .update(
                    pk::customer(merchant_id, customer_id),
                    "PIN",
                    "SET failures = failures + :one, failures_expire_at = :expires",
                )
                .condition("failures = :zero OR (failures_expire_at > :now AND failures < :limit)")
                .value(":one", n(1))
                .value(":zero", n(0))
                .value(":now", n(now))
                .value(":limit", n(policy.limit))
                .value(":expires", n(expires));
            let old = match self.conditional_update(increment).await? {
                Ok(new) => return granted_pin(&new),
                Err(None) => return Ok(PinAttempt::NoPin),
                Err(Some(old)) => old,
            };
            if number(&old, "failures_expire_at") > now {
                if count(&old, "failures") >= policy.limit {
                    return Ok(PinAttempt::Blocked);
                }
                continue;
            }
            // The window has lapsed: the stale count restarts at this attempt.
            let restart = self
                .update(
                    pk::customer(merchant_id, customer_id),
                    "PIN",
                    "SET failures = :one, failures_expire_at = :expires",
                )
                .condition("attribute_exists(pk) AND failures_expire_at <= :now")
                .value(":one", n(1))
                .value(":now", n(now))
                .value(":expires", n(expires));
            match self.conditional_update(restart).await? {
                Ok(new) => return granted_pin(&new),
                Err(None) => return Ok(PinAttempt::NoPin),
                Err(Some(_)) => continue,
            }
        }
        Err(StoreError::Unavailable("PIN state kept changing under contention".into()))
    }

    async fn clear_pin_failures(&self, merchant_id: u64, customer_id: u64) -> StoreResult<()> {
        let update = self
            .update(pk::customer(merchant_id, customer_id), "PIN", "SET failures = :zero, failures_expire_at = :zero")
            .condition("attribute_exists(pk)")
            .value(":zero", n(0));
        self.conditional_update(update).await?.ok();
        Ok(())
    }

    async fn pin_state(&self, merchant_id: u64, customer_id: u64) -> StoreResult<Option<PinState>> {
        let item = self.get(pk::customer(merchant_id, customer_id), "PIN").await?;
        Ok(item.map(|item| PinState {
            failures: count(&item, "failures"),
            failures_expire_at: number(&item, "failures_expire_at"),
        }))
    }
}

fn granted_pin(item: &Item) -> StoreResult<PinAttempt> {
    let pin_hash = text(item, "pin_hash").ok_or_else(|| StoreError::Internal("PIN record without a hash".into()))?;
    Ok(PinAttempt::Granted { pin_hash, count: count(item, "failures") })
}

#[async_trait]
impl Otps for DynamoStore {
    async fn issue_otp(&self, otp: &OtpRecord, limit_key: &str, limit: CounterPolicy, now: i64) -> StoreResult<bool> {
        let otp_put = || -> StoreResult<TransactWriteItem> {
            let item = encode(
                pk::customer(otp.merchant_id, otp.customer_id),
                &pk::otp_sk(otp.purpose),
                otp,
                Some(otp.expires_at),
            )?;
            self.put(item).into_transact()
        };
        for _ in 0..RACE_TURNS {
            let increment = self.counter_increment(limit_key, limit, now).into_transact()?;
            let Some(reasons) = self.transact(vec![increment, otp_put()?]).await? else {
                return Ok(true);
            };
            let old = reasons.first().and_then(CancellationReason::item);
            if let Some((count, _)) = live_counter(old, now) {
                if count >= limit.limit {
                    return Ok(false);
                }
                continue;
            }
            let start = self.counter_start(limit_key, limit, now)?.into_transact()?;
            if self.transact(vec![start, otp_put()?]).await?.is_none() {
                return Ok(true);
            }
        }
        Err(StoreError::Unavailable("OTP request counter kept changing under contention".into()))
    }

    async fn reserve_otp_try(
        &self,
        merchant_id: u64,
        customer_id: u64,
        purpose: OtpPurpose,
        max_tries: u32,
        now: i64,
    ) -> StoreResult<Option<OtpRecord>> {
        let update = self
            .update(pk::customer(merchant_id, customer_id), &pk::otp_sk(purpose), "SET tries = tries + :one")
            .condition("expires_at > :now AND tries < :max")
            .value(":one", n(1))
            .value(":now", n(now))
            .value(":max", n(max_tries));
        match self.conditional_update(update).await? {
            Ok(new) => Ok(Some(decode(new)?)),
            Err(_) => Ok(None),
        }
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
        let consume = self
            .delete_op(pk::customer(merchant_id, customer_id), &pk::otp_sk(purpose))
            .condition("otp_hash = :hash AND expires_at > :now")
            .value(":hash", s(otp_hash))
            .value(":now", n(now))
            .into_transact()?;
        let mut items = vec![consume];
        let update = match effect {
            OtpEffect::SetPin(pin_hash) => {
                items.push(self.pin_put(merchant_id, customer_id, &pin_hash)?.into_transact()?);
                None
            }
            OtpEffect::SetPassword(password_hash) => Some(
                self.update(pk::customer(merchant_id, customer_id), "CUSTOMER", "SET password_hash = :hash")
                    .condition("attribute_exists(pk)")
                    .value(":hash", s(password_hash)),
            ),
            OtpEffect::ResetByEmail { password_hash, unlink_facebook } => {
                let (expression, condition) = match unlink_facebook {
                    None => (PROVE_EMAIL, "attribute_exists(pk)"),
                    Some(_) => (PROVE_EMAIL_UNLINKING_FACEBOOK, "facebook_id = :facebook"),
                };
                let mut update = self
                    .update(pk::customer(merchant_id, customer_id), "CUSTOMER", expression)
                    .condition(condition)
                    .value(":hash", s(password_hash))
                    .value(":zero", n(0))
                    .value(":one", n(1))
                    .value(":now", n(now));
                if let Some(facebook_id) = unlink_facebook {
                    update = update.value(":facebook", s(facebook_id.clone()));
                    // The claim goes with the link, so the Facebook account can sign up again.
                    let claim = self
                        .delete_op(pk::unique(merchant_id, UniqueField::FacebookId, &facebook_id), "UNIQUE")
                        .condition("customer_id = :customer")
                        .value(":customer", n(customer_id));
                    items.push(claim.into_transact()?);
                }
                Some(update)
            }
        };
        if let Some(update) = update {
            items.push(update.into_transact()?);
            // The other password-reset record goes too (this one is consumed above).
            for other in OtpPurpose::PASSWORD_RESETS.into_iter().filter(|p| *p != purpose) {
                items.push(self.delete_op(pk::customer(merchant_id, customer_id), &pk::otp_sk(other)).into_transact()?);
            }
        }
        Ok(self.transact(items).await?.is_none())
    }

    async fn otp(
        &self,
        merchant_id: u64,
        customer_id: u64,
        purpose: OtpPurpose,
        now: i64,
    ) -> StoreResult<Option<OtpRecord>> {
        let record: Option<OtpRecord> =
            self.get_as(pk::customer(merchant_id, customer_id), &pk::otp_sk(purpose)).await?;
        Ok(record.filter(|otp| rules::otp_live(otp.expires_at, now)))
    }
}

/// A v2 reset through the emailed token: the new password, the email proven (the first time
/// counts), every app key revoked (a new generation).
const PROVE_EMAIL: &str = "SET password_hash = :hash, email_proven_at = if_not_exists(email_proven_at, :now), \
                           key_generation = if_not_exists(key_generation, :zero) + :one";
/// The same, unlinking the Facebook account that was linked before the proof.
const PROVE_EMAIL_UNLINKING_FACEBOOK: &str = "SET password_hash = :hash, email_proven_at = if_not_exists(email_proven_at, :now), \
     key_generation = if_not_exists(key_generation, :zero) + :one REMOVE facebook_id";

#[async_trait]
impl AppKeys for DynamoStore {
    /// One transaction: the key (a new item) and a check that its customer is still in the
    /// key's generation (a customer item without `key_generation` is in generation 0).
    async fn put_app_key(&self, key: &AppKey) -> StoreResult<bool> {
        let put = self.put(encode(pk::app_key(&key.key_hash), "APPKEY", key, None)?).only_if_new().into_transact()?;
        let condition = match key.generation {
            0 => "attribute_exists(pk) AND (attribute_not_exists(key_generation) OR key_generation = :generation)",
            _ => "key_generation = :generation",
        };
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(self::key(pk::customer(key.merchant_id, key.customer_id), "CUSTOMER")))
            .condition_expression(condition)
            .expression_attribute_values(":generation", n(key.generation))
            .build()
            .map_err(|e| StoreError::Internal(format!("building a condition check: {e}")))?;
        let check = TransactWriteItem::builder().condition_check(check).build();
        match self.transact(vec![put, check]).await? {
            None => Ok(true),
            Some(reasons) if failed_at(&reasons, 0) => Err(StoreError::AlreadyExists),
            Some(_) => Ok(false),
        }
    }

    /// The key, then its customer (the generation check): 2 reads.
    async fn app_key(&self, key_hash: &str) -> StoreResult<Option<AppKey>> {
        let Some(key) = self.get_as::<AppKey>(pk::app_key(key_hash), "APPKEY").await? else {
            return Ok(None);
        };
        let customer = self.customer(key.merchant_id, key.customer_id).await?;
        Ok(customer.filter(|customer| customer.key_generation == key.generation).map(|_| key))
    }

    async fn delete_app_key(&self, key_hash: &str) -> StoreResult<Option<(u64, u64)>> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk::app_key(key_hash)))
            .key("sk", s("APPKEY"))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(classify)?;
        let owner = |item: &Item| {
            let (merchant, customer) = (number(item, "merchant_id"), number(item, "customer_id"));
            Some((u64::try_from(merchant).ok()?, u64::try_from(customer).ok()?))
        };
        Ok(output.attributes.filter(|item| !item.is_empty()).and_then(|item| owner(&item)))
    }
}

#[async_trait]
impl Templates for DynamoStore {
    async fn put_template(&self, template: &Template) -> StoreResult<()> {
        let item = encode(pk::merchant(template.merchant_id), &pk::template_sk(&template.code), template, None)?;
        self.conditional_put(self.put(item)).await?;
        Ok(())
    }

    async fn template(&self, merchant_id: u64, code: &str) -> StoreResult<Option<Template>> {
        self.get_as(pk::merchant(merchant_id), &pk::template_sk(code)).await
    }

    async fn templates(&self, merchant_id: u64) -> StoreResult<Vec<Template>> {
        let items = self.query_prefix(pk::merchant(merchant_id), "TEMPLATE#").await?;
        let mut templates = items.into_iter().map(decode).collect::<StoreResult<Vec<Template>>>()?;
        templates.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(templates)
    }
}

#[async_trait]
impl Deliveries for DynamoStore {
    async fn claim_delivery(&self, event_id: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        // The SDK retries an attempt whose answer was lost, and a conditional put has no
        // idempotency token: without `claim = :claim` the retry would meet our own first write
        // and report a duplicate, and the code would never be sent.
        let claim = crate::random::random_hex::<16>().map_err(|e| StoreError::Internal(e.to_string()))?;
        let item = DeliveryItem { expires_at, claim: claim.clone() };
        let put = self
            .put(encode(pk::delivery(event_id), "DELIVERY", &item, Some(expires_at))?)
            .condition("attribute_not_exists(pk) OR expires_at <= :now OR claim = :claim")
            .value(":now", n(now))
            .value(":claim", s(claim));
        self.conditional_put(put).await
    }

    async fn release_delivery(&self, event_id: &str) -> StoreResult<()> {
        self.delete(pk::delivery(event_id), "DELIVERY").await
    }
}

#[async_trait]
impl Sessions for DynamoStore {
    async fn put_session(&self, session: &ConsoleSession, _now: i64) -> StoreResult<()> {
        let item = encode(pk::session(&session.id_hash), "SESSION", session, Some(session.expires_at))?;
        self.conditional_put(self.put(item)).await?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: i64) -> StoreResult<Option<ConsoleSession>> {
        let session: Option<ConsoleSession> = self.get_as(pk::session(id_hash), "SESSION").await?;
        // TTL deletes up to 48 hours late.
        Ok(session.filter(|session| session.expires_at > now))
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        self.delete(pk::session(id_hash), "SESSION").await
    }
}

/// The item of a security event: under its customer, expiring with the retention.
fn event_item(event: &SecurityEvent) -> StoreResult<Item> {
    encode(pk::customer(event.merchant_id, event.customer_id), &pk::event_sk(&event.id), event, Some(event.expires_at))
}

#[async_trait]
impl History for DynamoStore {
    /// One `PutItem` per event, all at once (a reset records two): one round trip, and no
    /// permission beyond `PutItem` (a `BatchWriteItem` would need its own).
    async fn record_events(&self, events: &[SecurityEvent]) -> StoreResult<()> {
        let put = |event: &SecurityEvent| {
            let item = event_item(event);
            async move {
                self.client.put_item().table_name(&self.table).set_item(Some(item?)).send().await.map_err(classify)?;
                Ok::<(), StoreError>(())
            }
        };
        match events {
            [] => Ok(()),
            [one] => put(one).await,
            [first, second] => tokio::try_join!(put(first), put(second)).map(|_| ()),
            // Not made by any route: one after the other.
            more => {
                for event in more {
                    put(event).await?;
                }
                Ok(())
            }
        }
    }

    /// One query: the customer's `EVENT#` items from `since`'s to `before`'s (which comes back
    /// too and is skipped), newest first.
    async fn events(
        &self,
        merchant_id: u64,
        customer_id: u64,
        before: Option<&str>,
        limit: u32,
        since: i64,
        now: i64,
    ) -> StoreResult<EventPage> {
        let upper = match before {
            Some(before) => pk::event_sk(before),
            // Above every event ID (digits, '-' and hex).
            None => pk::event_sk("~"),
        };
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(pk::customer(merchant_id, customer_id)))
            .expression_attribute_values(":from", s(pk::event_sk(&format!("{:011}", since.max(0)))))
            .expression_attribute_values(":to", s(upper))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.saturating_add(2)).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let mut events = Vec::new();
        for item in output.items.unwrap_or_default() {
            let event: SecurityEvent = decode(item)?;
            if before.is_some_and(|before| event.id.as_str() >= before) || event.expires_at <= now {
                continue;
            }
            events.push(event);
        }
        Ok(super::page_of(events, limit))
    }
}

fn attribute<T: Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value)
        .map_err(|e| StoreError::Internal(format!("encoding a record: {e}")))
}

fn from_attribute<T: DeserializeOwned>(value: AttributeValue) -> StoreResult<T> {
    serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value)
        .map_err(|e| StoreError::Internal(format!("decoding a record: {e}")))
}

#[async_trait]
impl DeliveryOutcomes for DynamoStore {
    /// 1 update; 2 when the outcome is older than the one kept and suppresses an address.
    async fn record_delivery(
        &self,
        merchant_id: u64,
        customer_id: u64,
        outcome: &DeliveryOutcome,
        suppress: Option<&Suppression>,
    ) -> StoreResult<()> {
        let key = || pk::customer(merchant_id, customer_id);
        let mut expression = "SET #last = :last".to_string();
        if suppress.is_some() {
            expression.push_str(", #suppressed = :suppressed");
        }
        let mut update = self
            .update(key(), pk::DELIVERIES_SK, &expression)
            .condition("attribute_not_exists(#last) OR #last.#at <= :at")
            .name("#last", "last")
            .name("#at", "at")
            .value(":last", attribute(outcome)?)
            .value(":at", n(outcome.at));
        if let Some(suppression) = suppress {
            update = update
                .name("#suppressed", &pk::suppressed(suppression.channel))
                .value(":suppressed", attribute(suppression)?);
        }
        if self.conditional_update(update).await?.is_ok() {
            return Ok(());
        }
        // A later outcome is kept already; the suppression stands whatever the order.
        if let Some(suppression) = suppress {
            let update = self
                .update(key(), pk::DELIVERIES_SK, "SET #suppressed = :suppressed")
                .name("#suppressed", &pk::suppressed(suppression.channel))
                .value(":suppressed", attribute(suppression)?);
            self.conditional_update(update).await?.ok();
        }
        Ok(())
    }

    async fn delivery_state(&self, merchant_id: u64, customer_id: u64) -> StoreResult<DeliveryState> {
        let Some(mut item) = self.get(pk::customer(merchant_id, customer_id), pk::DELIVERIES_SK).await? else {
            return Ok(DeliveryState::default());
        };
        let last = item.remove("last").map(from_attribute::<DeliveryOutcome>).transpose()?;
        let mut suppressed = Vec::new();
        for channel in [Channel::Email, Channel::Sms] {
            if let Some(value) = item.remove(&pk::suppressed(channel)) {
                suppressed.push(from_attribute::<Suppression>(value)?);
            }
        }
        Ok(DeliveryState { last, suppressed })
    }
}
