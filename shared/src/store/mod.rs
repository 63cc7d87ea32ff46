//! The storage port: what the service needs from a store, one trait per need, and the records
//! it keeps. Two adapters implement every trait with the same promises (the integration tests
//! run one contract suite against both): DynamoDB for AWS and SQLite for a single machine.
//!
//! Promises every adapter keeps:
//! - email (lowercased), mobile (E.164), member ID and Facebook ID are unique per merchant,
//!   enforced at write time, atomically with the customer record;
//! - IDs are positive integers allocated atomically, never twice, across any number of store
//!   instances; not consecutive: each instance reserves a block of customer IDs at a time
//!   (`ids`), and what it leaves unused is a gap;
//! - counters change only through conditional atomic writes, never read-modify-write;
//! - a change that spans records is one transaction: it happens whole or not at all;
//! - a record that expires is also checked for expiry on every read and conditional write
//!   (DynamoDB's TTL deletes up to 48 hours late), so an expired record reads as absent.

use async_trait::async_trait;

use crate::domain::otp::OtpPurpose;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod ids;
pub mod layout;
mod records;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use records::*;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service is down, slow or throttling: answer 503, nothing was changed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A unique field is already taken by another customer of the merchant.
    #[error("{0} is already taken")]
    Duplicate(UniqueField),
    /// A record that must be new already exists (e.g. an ID given on import).
    #[error("record already exists")]
    AlreadyExists,
    /// Anything else: a bug or corrupt data. Answer 500.
    #[error("store failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Schema and local settings.
#[async_trait]
pub trait Setup: Send + Sync {
    /// Creates the table or schema; safe to run again.
    async fn init(&self) -> StoreResult<()>;

    /// Returns the value stored under `name`, storing `candidate` first when there is none.
    /// Atomic: concurrent callers all get the same value. For locally generated keys.
    async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String>;

    /// The next ID of `sequence`: positive and never handed out before, by this instance or
    /// any other on the same table or file. Customer IDs come from a block this instance
    /// reserved (`ids::IdBlocks`), so they rise within an instance but interleave across
    /// instances, with gaps.
    async fn next_id(&self, sequence: Sequence) -> StoreResult<u64>;
}

/// Merchants and their API keys.
#[async_trait]
pub trait Merchants: Send + Sync {
    /// Creates a merchant together with the keyed hash of its first API key.
    async fn create_merchant(&self, merchant: &Merchant, api_key_hash: &str) -> StoreResult<()>;

    async fn merchant(&self, id: u64) -> StoreResult<Option<Merchant>>;

    /// The merchant an API key (by its keyed hash) belongs to, while the key has not ended
    /// (a rotated key with a grace period ends at its expiry, checked against `now`).
    async fn merchant_id_by_api_key(&self, api_key_hash: &str, now: i64) -> StoreResult<Option<u64>>;
}

/// Customers, their unique fields and their passwords.
#[async_trait]
pub trait Customers: Send + Sync {
    /// Creates a customer and claims its unique fields in one atomic write, together with
    /// `app_key` when given (v2 registration). A taken field fails with `Duplicate` and
    /// creates nothing.
    async fn create_customer(&self, customer: NewCustomer, app_key: Option<&AppKey>) -> StoreResult<Customer>;

    async fn customer(&self, merchant_id: u64, id: u64) -> StoreResult<Option<Customer>>;

    async fn customer_by(&self, merchant_id: u64, field: UniqueField, value: &str) -> StoreResult<Option<Customer>>;

    /// Changes the customer's email and mobile as `change` says, moving their unique claims,
    /// and lifts the delivery suppressions of the channels it names (a merchant correcting an
    /// address that bounced), in one atomic write. `Duplicate` when a new value is another
    /// customer's; `None` when there is no such customer.
    async fn update_contact(
        &self,
        merchant_id: u64,
        customer_id: u64,
        change: &ContactChange,
    ) -> StoreResult<Option<Customer>>;

    /// `customer_by` at the same cost whether or not `value` is claimed (on DynamoDB a miss
    /// also reads a customer that cannot exist), for the anonymous routes, where the calls made
    /// must not tell whether an account exists. The merchant routes use `customer_by`: a
    /// merchant may know which of its customers exist.
    async fn customer_by_evenly(
        &self,
        merchant_id: u64,
        field: UniqueField,
        value: &str,
    ) -> StoreResult<Option<Customer>>;

    /// Stores a new password hash and removes every outstanding password-reset code, in one
    /// atomic write. With `current: Some(hash)` it writes only while that hash is still the
    /// stored one (a rehash must not undo a concurrent change). `false`: nothing changed
    /// (no such customer, or the condition failed).
    async fn set_password(
        &self,
        merchant_id: u64,
        customer_id: u64,
        password_hash: &str,
        current: Option<&str>,
    ) -> StoreResult<bool>;
}

/// Windowed counters: OTP requests, password failures.
#[async_trait]
pub trait Counters: Send + Sync {
    /// Atomically counts one event under `key` if the counter is below `policy.limit` (an
    /// expired counter starts again from zero). Never lets the count pass the limit, however
    /// many callers race.
    async fn reserve(&self, key: &str, policy: CounterPolicy, now: i64) -> StoreResult<Reservation>;

    /// Gives one reserved event back (a check that turned out right), never below zero.
    async fn release(&self, key: &str, now: i64) -> StoreResult<()>;

    async fn counter(&self, key: &str, now: i64) -> StoreResult<CounterState>;

    async fn clear_counter(&self, key: &str) -> StoreResult<()>;
}

/// PIN hashes and the failure count that guards them.
///
/// The count lives in the PIN record itself so that a check reserves its attempt and reads
/// the hash in one conditional write. Its one-week window is an expiry checked inside every
/// conditional write and read, not a DynamoDB TTL: a TTL would delete the PIN along with
/// the count.
#[async_trait]
pub trait Pins: Send + Sync {
    /// Stores a PIN hash with zero failures when `condition` holds; answers whether it wrote
    /// (when it did not, nothing changed).
    async fn put_pin(
        &self,
        merchant_id: u64,
        customer_id: u64,
        pin_hash: &str,
        condition: PinCondition<'_>,
    ) -> StoreResult<bool>;

    /// Reserves one attempt of the current window (see `PinAttempt`). An expired count starts
    /// again from zero.
    async fn reserve_pin_attempt(
        &self,
        merchant_id: u64,
        customer_id: u64,
        policy: CounterPolicy,
        now: i64,
    ) -> StoreResult<PinAttempt>;

    /// Failures back to zero (a right PIN, an unblock). Nothing happens when no PIN is set.
    async fn clear_pin_failures(&self, merchant_id: u64, customer_id: u64) -> StoreResult<()>;

    /// The stored failure count, without reserving anything (`None`: no PIN is set). The
    /// caller reads it against the clock (an expired count is zero).
    async fn pin_state(&self, merchant_id: u64, customer_id: u64) -> StoreResult<Option<PinState>>;
}

/// One-time codes and v2 reset tokens: one live record per customer and purpose.
#[async_trait]
pub trait Otps: Send + Sync {
    /// Counts one request under `limit_key` and, if the limit allows it, stores `otp`,
    /// replacing any earlier record of its purpose: both or neither. `false`: the limit is
    /// reached and nothing was written.
    async fn issue_otp(&self, otp: &OtpRecord, limit_key: &str, limit: CounterPolicy, now: i64) -> StoreResult<bool>;

    /// Uses one try of the live record: `None` when there is none (none, expired, used) or
    /// its tries are used up. The record comes back with the try counted.
    async fn reserve_otp_try(
        &self,
        merchant_id: u64,
        customer_id: u64,
        purpose: OtpPurpose,
        max_tries: u32,
        now: i64,
    ) -> StoreResult<Option<OtpRecord>>;

    /// Consumes the record with hash `otp_hash` if it is still live and applies `effect`, in
    /// one atomic write. `false`: it was consumed or replaced meanwhile; nothing changed.
    async fn consume_otp(
        &self,
        merchant_id: u64,
        customer_id: u64,
        purpose: OtpPurpose,
        otp_hash: &str,
        now: i64,
        effect: OtpEffect,
    ) -> StoreResult<bool>;

    /// The live record, without using a try (for tests and operators).
    async fn otp(
        &self,
        merchant_id: u64,
        customer_id: u64,
        purpose: OtpPurpose,
        now: i64,
    ) -> StoreResult<Option<OtpRecord>>;
}

/// Keys of the mobile app API v2. A key is live while its `generation` is its customer's
/// `key_generation`; `OtpEffect::ResetByEmail` moves that on, revoking every key of the
/// customer in the same atomic write as the new password.
#[async_trait]
pub trait AppKeys: Send + Sync {
    /// Stores `key` if its customer exists and is still in generation `key.generation`, in one
    /// atomic write: `false` when the keys were revoked since the customer was read (or the
    /// customer is gone), and nothing was written. A key made from a check that a reset
    /// overtook never lives.
    async fn put_app_key(&self, key: &AppKey) -> StoreResult<bool>;

    /// A live key: `None` when there is none or its customer's keys were revoked since.
    async fn app_key(&self, key_hash: &str) -> StoreResult<Option<AppKey>>;

    /// Deletes one key's record, live or revoked: the merchant and customer it was for, `None`
    /// when there was none.
    async fn delete_app_key(&self, key_hash: &str) -> StoreResult<Option<(u64, u64)>>;
}

/// Merchants' message templates.
#[async_trait]
pub trait Templates: Send + Sync {
    async fn put_template(&self, template: &Template) -> StoreResult<()>;

    async fn template(&self, merchant_id: u64, code: &str) -> StoreResult<Option<Template>>;

    /// A merchant's templates, by code.
    async fn templates(&self, merchant_id: u64) -> StoreResult<Vec<Template>>;
}

/// De-duplication marks of the OTP delivery.
#[async_trait]
pub trait Deliveries: Send + Sync {
    /// Claims `event_id` for sending until `expires_at`: `true` for the first claim, `false`
    /// while an earlier claim is live (the event was, or is being, sent).
    async fn claim_delivery(&self, event_id: &str, expires_at: i64, now: i64) -> StoreResult<bool>;

    /// Gives a claim back after a failed send, so a retry can send.
    async fn release_delivery(&self, event_id: &str) -> StoreResult<()>;
}

/// What only operator commands do — imports, exports, key rotation — so no Lambda function
/// links it.
#[async_trait]
pub trait Operator: Send + Sync {
    /// How many customers one `import_customers` call should carry, and how many calls may
    /// run at once, for this store's best throughput.
    fn import_batching(&self) -> ImportBatching;

    /// Creates each customer of `batch` that is new — its record, its unique claims and its
    /// PIN, keeping its ID — and answers for each what it did. A customer whose ID or unique
    /// value is taken is left out whole. The customers of one batch must not share an ID or a
    /// unique value (the caller splits them). Afterwards the customer-ID sequence is past
    /// every ID written.
    async fn import_customers(&self, batch: &[ImportedCustomer]) -> StoreResult<Vec<ImportOutcome>>;

    /// What `import_customers` would answer now, writing nothing.
    async fn check_import(&self, batch: &[ImportedCustomer]) -> StoreResult<Vec<ImportOutcome>>;

    /// A page of the merchant's customers with their PIN hashes, from `cursor` (`None`: the
    /// start), and the cursor of the next page (`None` after the last). `limit` bounds the
    /// page: customers on SQLite, items looked at on DynamoDB (a page may then be empty).
    async fn export_page(
        &self,
        merchant_id: u64,
        cursor: Option<String>,
        limit: u32,
    ) -> StoreResult<(Vec<ImportedCustomer>, Option<String>)>;

    /// Creates a merchant with its ID and the keyed hash of its API key, both or neither;
    /// the merchant-ID sequence moves past the ID.
    async fn import_merchant(&self, merchant: &Merchant, api_key_hash: &str) -> StoreResult<MerchantImport>;

    /// Gives the merchant a new API key (by its keyed hash) and ends its current keys: at
    /// once when `old_keys_expire_at <= now`, else at that time (a key due to end sooner
    /// keeps its time). One atomic change; concurrent rotations take turns. `None`: no such
    /// merchant; else how many keys were live before.
    async fn rotate_api_key(
        &self,
        merchant_id: u64,
        new_hash: &str,
        old_keys_expire_at: i64,
        now: i64,
    ) -> StoreResult<Option<u32>>;
}

/// A customer's security history: append-only events under the customer, each forgotten after
/// the retention (a DynamoDB TTL; every read also filters by `expires_at`, since TTL deletes
/// late).
#[async_trait]
pub trait History: Send + Sync {
    /// Stores `events` (idempotent: an event written again under the same ID replaces itself).
    async fn record_events(&self, events: &[SecurityEvent]) -> StoreResult<()>;

    /// The customer's events that happened at `since` or later and have not expired at `now`,
    /// with an ID below `before` (all when `None`), newest first, at most `limit`; `next` is set
    /// when older ones remain.
    async fn events(
        &self,
        merchant_id: u64,
        customer_id: u64,
        before: Option<&str>,
        limit: u32,
        since: i64,
        now: i64,
    ) -> StoreResult<EventPage>;
}

/// A page of `limit` from `events` (newest first, possibly one more than `limit`, which says
/// that older ones remain).
pub(crate) fn page_of(mut events: Vec<SecurityEvent>, limit: u32) -> EventPage {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = events.len() > limit;
    events.truncate(limit);
    let next = if more { events.last().map(|event| event.id.clone()) } else { None };
    EventPage { events, next }
}

/// What became of the deliveries to a customer: the last outcome, and the addresses not to
/// send to again.
#[async_trait]
pub trait DeliveryOutcomes: Send + Sync {
    /// Keeps `outcome` as the customer's last unless a later one is already kept (outcomes can
    /// arrive out of order), and adds `suppress` whatever the order.
    async fn record_delivery(
        &self,
        merchant_id: u64,
        customer_id: u64,
        outcome: &DeliveryOutcome,
        suppress: Option<&Suppression>,
    ) -> StoreResult<()>;

    async fn delivery_state(&self, merchant_id: u64, customer_id: u64) -> StoreResult<DeliveryState>;
}

/// Support-console sessions (`console`), each forgotten at its expiry (a DynamoDB TTL; every
/// read also checks `expires_at`, since TTL deletes late).
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Stores `session`, replacing one with the same `id_hash` (SQLite also forgets the
    /// sessions ended at `now` here: it has no TTL).
    async fn put_session(&self, session: &ConsoleSession, now: i64) -> StoreResult<()>;

    /// The session with this ID hash, `None` when there is none or it has expired at `now`.
    async fn session(&self, id_hash: &str, now: i64) -> StoreResult<Option<ConsoleSession>>;

    /// Ends the session (sign-out); nothing happens when there is none.
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
}

/// What the handlers use: what an `App` holds. A Lambda function holds only this, so the
/// table creation of `Setup` is not linked into it.
pub trait Store:
    Merchants
    + Customers
    + Counters
    + Pins
    + Otps
    + AppKeys
    + Templates
    + Deliveries
    + History
    + DeliveryOutcomes
    + Sessions
{
}

impl<T> Store for T where
    T: Merchants
        + Customers
        + Counters
        + Pins
        + Otps
        + AppKeys
        + Templates
        + Deliveries
        + History
        + DeliveryOutcomes
        + Sessions
{
}

/// Everything a store offers, schema, sequences and the operator's bulk calls included (the
/// CLI, the local server, the tests); each adapter implements all of it.
pub trait AdminStore: Store + Setup + Operator {}

impl<T> AdminStore for T where T: Store + Setup + Operator {}

/// Every store trait, for callers that use many: `use shared::store::prelude::*;`.
pub mod prelude {
    pub use super::{
        AdminStore, AppKeys, Counters, Customers, Deliveries, DeliveryOutcomes, History, Merchants, Operator, Otps,
        Pins, Sessions, Setup, Store, Templates,
    };
}

/// Counter keys, in one place so every adapter and route names them alike. Each starts with
/// the prefix of its `layout::CounterKind`, which IAM grants per function.
pub mod keys {
    use super::layout::CounterKind::{self, OtpRequests, PasswordFailures, ResetEmails};

    pub fn password_failures(merchant_id: u64, customer_id: u64) -> String {
        format!("{}{merchant_id}#{customer_id}", PasswordFailures.key_prefix())
    }

    /// Failures against an identifier that names no customer, by the identifier's keyed hash
    /// (so the store never holds the guessed emails): unknown users are throttled exactly like
    /// known ones, or the first 429 would tell an attacker which accounts exist.
    pub fn unknown_identifier_failures(merchant_id: u64, identifier_hash: &str) -> String {
        format!("{}{merchant_id}#unknown#{identifier_hash}", PasswordFailures.key_prefix())
    }

    /// The merchant's OTP requests (PIN and password resets), docs/api.md section 6.
    pub fn otp_requests(merchant_id: u64, customer_id: u64) -> String {
        format!("{}{merchant_id}#{customer_id}", OtpRequests.key_prefix())
    }

    /// The reset emails of the anonymous v2 `forgot_password`: a counter of its own, so that
    /// nobody without credentials can spend the merchant's `otp_requests`.
    pub fn reset_emails(merchant_id: u64, customer_id: u64) -> String {
        format!("{}{merchant_id}#{customer_id}", ResetEmails.key_prefix())
    }

    /// What one client network (by keyed hash, see `domain::network`) did on an anonymous
    /// route: `what` is one of the `Network*` kinds.
    pub fn source_network(what: CounterKind, network_hash: &str) -> String {
        format!("{}{network_hash}", what.key_prefix())
    }
}

/// Where the data lives: `sqlite:PATH` or `dynamodb:TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(String),
    DynamoDb(String),
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl, String> {
        match url.split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => Ok(StoreUrl::Sqlite(path.to_string())),
            Some(("dynamodb", table)) if !table.is_empty() => Ok(StoreUrl::DynamoDb(table.to_string())),
            _ => Err(format!("store {url:?}: expected sqlite:PATH or dynamodb:TABLE")),
        }
    }
}

/// Opens the store `url` names, with the adapters this binary was built with.
#[cfg(any(feature = "sqlite", feature = "dynamodb"))]
pub async fn open(url: &StoreUrl, timeout: std::time::Duration) -> StoreResult<std::sync::Arc<dyn AdminStore>> {
    match url {
        #[cfg(feature = "sqlite")]
        StoreUrl::Sqlite(path) => Ok(std::sync::Arc::new(sqlite::SqliteStore::open(path)?)),
        #[cfg(all(feature = "dynamodb", feature = "aws-default-chain"))]
        StoreUrl::DynamoDb(table) => {
            Ok(std::sync::Arc::new(dynamodb::DynamoStore::connect(table.clone(), timeout).await?))
        }
        #[allow(unreachable_patterns)]
        other => {
            let _ = timeout;
            Err(StoreError::Internal(format!("this binary was built without support for {other:?}")))
        }
    }
}
