//! The storage port: what the service needs from a store, and the records it keeps. Two
//! adapters implement it with the same promises (the integration tests run one contract suite
//! against both): DynamoDB for AWS and SQLite for a single machine.
//!
//! Promises every adapter keeps:
//! - email (lowercased), mobile (E.164) and member ID are unique per merchant, enforced at
//!   write time, atomically with the customer record;
//! - IDs are positive integers allocated atomically;
//! - counters change only through conditional atomic writes;
//! - a record that expires is also checked for expiry on every read (DynamoDB's TTL deletes
//!   late), so an expired record reads as absent.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "sqlite")]
pub mod sqlite;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UniqueField {
    Email,
    Mobile,
    MemberId,
}

impl UniqueField {
    pub fn as_str(self) -> &'static str {
        match self {
            UniqueField::Email => "email",
            UniqueField::Mobile => "mobile",
            UniqueField::MemberId => "member_id",
        }
    }
}

impl std::fmt::Display for UniqueField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sequences from which IDs are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    Merchant,
    Customer,
}

impl Sequence {
    pub fn name(self) -> &'static str {
        match self {
            Sequence::Merchant => "merchant",
            Sequence::Customer => "customer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    pub id: u64,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: u64,
    pub merchant_id: u64,
    pub name: String,
    /// Lowercased.
    pub email: Option<String>,
    /// E.164.
    pub mobile: Option<String>,
    pub member_id: Option<String>,
    /// PHC string.
    pub password_hash: Option<String>,
    pub created_at: i64,
}

/// A customer to create. `id: None` allocates one; `Some` keeps it (import), failing with
/// `AlreadyExists` when taken.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub id: Option<u64>,
    pub merchant_id: u64,
    pub name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub member_id: Option<String>,
    pub password_hash: Option<String>,
    pub created_at: i64,
}

/// How a counter's window moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The window restarts at every counted event: "N within T of the last one".
    Sliding,
    /// The window starts at the first counted event: "N per T".
    Fixed,
}

/// A windowed counter, e.g. PIN failures of a customer or OTP requests of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterPolicy {
    pub limit: u32,
    pub window_secs: i64,
    pub window: Window,
}

/// The answer to a reservation: was a slot granted, and the count after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub granted: bool,
    /// The count including this reservation when granted; the current count when refused.
    pub count: u32,
    pub expires_at: i64,
}

/// A counter's state as read now; an expired counter reads as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterState {
    pub count: u32,
    pub expires_at: Option<i64>,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Creates the table or schema; safe to run again.
    async fn init(&self) -> StoreResult<()>;

    /// Returns the value stored under `name`, storing `candidate` first when there is none.
    /// Atomic: concurrent callers all get the same value. For locally generated keys.
    async fn setting_or_insert(&self, name: &str, candidate: &str) -> StoreResult<String>;

    /// The next ID of `sequence` (1, 2, ...), allocated atomically.
    async fn next_id(&self, sequence: Sequence) -> StoreResult<u64>;

    /// Creates a merchant together with the keyed hash of its first API key.
    async fn create_merchant(&self, merchant: &Merchant, api_key_hash: &str) -> StoreResult<()>;

    async fn merchant(&self, id: u64) -> StoreResult<Option<Merchant>>;

    /// The merchant an API key (by its keyed hash) belongs to.
    async fn merchant_id_by_api_key(&self, api_key_hash: &str) -> StoreResult<Option<u64>>;

    /// Creates a customer and claims its unique fields in one atomic write. A taken field
    /// fails with `Duplicate` and creates nothing.
    async fn create_customer(&self, customer: NewCustomer) -> StoreResult<Customer>;

    async fn customer(&self, merchant_id: u64, id: u64) -> StoreResult<Option<Customer>>;

    async fn customer_by(&self, merchant_id: u64, field: UniqueField, value: &str) -> StoreResult<Option<Customer>>;

    /// Atomically counts one event under `key` if the counter is below `policy.limit` (an
    /// expired counter starts again from zero). Never lets the count pass the limit, however
    /// many callers race.
    async fn reserve(&self, key: &str, policy: CounterPolicy, now: i64) -> StoreResult<Reservation>;

    async fn counter(&self, key: &str, now: i64) -> StoreResult<CounterState>;

    async fn clear_counter(&self, key: &str) -> StoreResult<()>;
}

/// Counter keys, in one place so every adapter and route names them alike.
pub mod keys {
    pub fn pin_failures(merchant_id: u64, customer_id: u64) -> String {
        format!("pinfail#{merchant_id}#{customer_id}")
    }

    pub fn password_failures(merchant_id: u64, customer_id: u64) -> String {
        format!("pwfail#{merchant_id}#{customer_id}")
    }

    pub fn otp_requests(merchant_id: u64, customer_id: u64) -> String {
        format!("otpreq#{merchant_id}#{customer_id}")
    }
}

/// The expiry of a counter after a granted reservation, from its previous expiry.
pub fn next_expiry(policy: CounterPolicy, previous: Option<i64>, now: i64) -> i64 {
    match (policy.window, previous) {
        (Window::Fixed, Some(expires_at)) if expires_at > now => expires_at,
        _ => now.saturating_add(policy.window_secs),
    }
}
