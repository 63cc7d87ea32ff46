//! The records a store keeps. Secrets appear only as hashes: PINs and passwords as argon2id
//! PHC strings, OTPs, API keys, app keys and reset tokens as keyed hashes.

use serde::{Deserialize, Serialize};

use crate::domain::otp::OtpPurpose;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    pub id: u64,
    pub name: String,
    pub created_at: i64,
}

/// Fields of the mobile app API v2 profile; all optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

impl Profile {
    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: u64,
    pub merchant_id: u64,
    pub name: String,
    /// Lowercased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// The Facebook user ID a v2 customer signs in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebook_id: Option<String>,
    /// PHC string (argon2id), or an imported Django hash until its first successful check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Profile::is_empty")]
    pub profile: Profile,
    pub created_at: i64,
    /// When the customer first proved to own `email` (a v2 reset through the emailed token).
    /// `None`: never; whoever registered may not own the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_proven_at: Option<i64>,
    /// The generation of the customer's v2 app keys: a key is live only while it was made in
    /// the current one, so one increment revokes every key at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub key_generation: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl Customer {
    /// The value of one of the unique fields.
    pub fn unique_value(&self, field: UniqueField) -> Option<&str> {
        match field {
            UniqueField::Email => self.email.as_deref(),
            UniqueField::Mobile => self.mobile.as_deref(),
            UniqueField::MemberId => self.member_id.as_deref(),
            UniqueField::FacebookId => self.facebook_id.as_deref(),
        }
    }
}

/// A customer to create. `id: None` allocates one; `Some` keeps it (import), failing with
/// `AlreadyExists` when taken.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub id: Option<u64>,
    pub merchant_id: u64,
    pub name: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub member_id: Option<String>,
    pub facebook_id: Option<String>,
    pub password_hash: Option<String>,
    pub profile: Profile,
    pub created_at: i64,
}

impl NewCustomer {
    pub fn into_customer(self, id: u64) -> Customer {
        Customer {
            id,
            merchant_id: self.merchant_id,
            name: self.name,
            email: self.email,
            mobile: self.mobile,
            member_id: self.member_id,
            facebook_id: self.facebook_id,
            password_hash: self.password_hash,
            profile: self.profile,
            created_at: self.created_at,
            email_proven_at: None,
            key_generation: 0,
        }
    }
}

/// The fields that are unique per merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UniqueField {
    Email,
    Mobile,
    MemberId,
    FacebookId,
}

impl UniqueField {
    pub const ALL: [UniqueField; 4] =
        [UniqueField::Email, UniqueField::Mobile, UniqueField::MemberId, UniqueField::FacebookId];

    pub fn as_str(self) -> &'static str {
        match self {
            UniqueField::Email => "email",
            UniqueField::Mobile => "mobile",
            UniqueField::MemberId => "member_id",
            UniqueField::FacebookId => "facebook_id",
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

/// How a counter's window moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The window restarts at every counted event: "N within T of the last one".
    Sliding,
    /// The window starts at the first counted event: "N per T".
    Fixed,
}

/// A windowed limit, e.g. PIN failures of a customer or OTP requests of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterPolicy {
    pub limit: u32,
    pub window_secs: i64,
    pub window: Window,
}

impl From<crate::config::Limit> for CounterPolicy {
    /// A configured limit counts in a fixed window: "N per T".
    fn from(limit: crate::config::Limit) -> CounterPolicy {
        CounterPolicy { limit: limit.count, window_secs: limit.window_secs, window: Window::Fixed }
    }
}

impl CounterPolicy {
    /// The expiry of a counter after a granted reservation, from its previous live expiry.
    pub fn next_expiry(self, live_expiry: Option<i64>, now: i64) -> i64 {
        match (self.window, live_expiry) {
            (Window::Fixed, Some(expires_at)) if expires_at > now => expires_at,
            _ => now.saturating_add(self.window_secs),
        }
    }
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

/// The outcome of trying to reserve a PIN attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinAttempt {
    /// No PIN is set for this customer (or there is no such customer).
    NoPin,
    /// The window's attempts are used up: the PIN must not be evaluated.
    Blocked,
    /// Attempt number `count` of the window is reserved; check the PIN against `pin_hash`.
    Granted { pin_hash: String, count: u32 },
}

/// When `put_pin` may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCondition<'a> {
    /// Always (a reset).
    Any,
    /// Only when no PIN is set (first set).
    Unset,
    /// Only while the stored hash is this one (a change after checking the current PIN).
    Current(&'a str),
}

/// A live one-time code (or a v2 reset token, which is stored the same way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpRecord {
    pub merchant_id: u64,
    pub customer_id: u64,
    pub purpose: OtpPurpose,
    pub otp_hash: String,
    pub expires_at: i64,
    /// Tries used so far.
    pub tries: u32,
}

/// What consuming an OTP changes in the same atomic write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtpEffect {
    /// New PIN hash; failures and block cleared.
    SetPin(String),
    /// New password hash; every outstanding password-reset code is removed too.
    SetPassword(String),
    /// A v2 reset through the emailed token, which proves the email: the new password hash
    /// (outstanding reset codes removed, as for `SetPassword`), the email proven from now if
    /// it was not before, every app key revoked, and the Facebook account `unlink_facebook`
    /// names (when `Some`, it must still be the linked one) unlinked and its claim freed.
    ResetByEmail { password_hash: String, unlink_facebook: Option<String> },
}

/// A key of the mobile app API v2, stored by its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppKey {
    pub key_hash: String,
    pub merchant_id: u64,
    pub customer_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcm_id: Option<String>,
    pub created_at: i64,
    /// The customer's `key_generation` the key was made in; it dies when that moves on.
    #[serde(default)]
    pub generation: u32,
}

/// A merchant's message template for OTP deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Template {
    pub merchant_id: u64,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    pub updated_at: i64,
}

/// A customer as an import writes it (its ID kept) and an export reads it: the record and its
/// PIN hash.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedCustomer {
    pub customer: Customer,
    pub pin_hash: Option<String>,
}

/// What the store did, or would do, with one customer of an import.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportOutcome {
    /// Written (checking: would be).
    Created,
    /// The merchant already has a customer with this ID: here it is, so the caller can tell
    /// a re-run (the same customer) from a clash. Nothing written.
    Exists(Box<Customer>),
    /// Another customer of the merchant holds this unique value. Nothing written.
    Duplicate(UniqueField),
}

/// How a store takes imports best: customers per call, calls at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportBatching {
    pub customers: usize,
    pub in_flight: usize,
}

/// What importing a merchant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MerchantImport {
    Created,
    /// A merchant with this ID exists (returned); nothing written.
    Exists(Merchant),
    /// The API key is already another merchant's (its ID); nothing written.
    KeyTaken(u64),
}
