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

pub use crate::domain::rules::{CounterPolicy, CounterState, Reservation, Window};

impl From<crate::config::Limit> for CounterPolicy {
    /// A configured limit counts in a fixed window: "N per T".
    fn from(limit: crate::config::Limit) -> CounterPolicy {
        CounterPolicy { limit: limit.count, window_secs: limit.window_secs, window: Window::Fixed }
    }
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

impl OtpRecord {
    /// A new code (or token) `secret` for `customer`, kept only as its keyed hash, no try used.
    pub fn issued(
        hash_key: &crate::domain::secrets::HashKey,
        customer: &Customer,
        purpose: OtpPurpose,
        secret: &str,
        expires_at: i64,
    ) -> OtpRecord {
        let (merchant_id, customer_id) = (customer.merchant_id, customer.id);
        let otp_hash = crate::domain::otp::hash(hash_key, merchant_id, customer_id, purpose, secret);
        OtpRecord { merchant_id, customer_id, purpose, otp_hash, expires_at, tries: 0 }
    }
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

/// A PIN's failure count as stored (`None` from `pin_state`: no PIN is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PinState {
    pub failures: u32,
    /// When the failures stop counting (epoch seconds); 0 when there are none.
    pub failures_expire_at: i64,
}

/// What a line of a customer's security history is about (docs/api.md section 11.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    PinSet,
    PinChanged,
    PinValidated,
    /// A wrong PIN that did not block it.
    PinFailed,
    /// The wrong PIN that blocked it.
    PinBlocked,
    PinUnblocked,
    PinReset,
    PasswordValidated,
    PasswordChanged,
    /// Set by the merchant (`set-password`).
    PasswordSet,
    PasswordReset,
    /// A wrong password that did not fill the throttle window.
    PasswordFailed,
    /// The wrong password that filled the throttle window.
    PasswordThrottled,
    OtpRequested,
    OtpUsed,
    /// A wrong code, which used one of the live code's tries.
    OtpFailed,
    /// The dispatcher handed the message to SES or SNS.
    OtpSent,
    /// A send failed; the queue will retry it.
    OtpSendFailed,
    /// The last allowed send failed: the message went to the dead-letter queue.
    OtpDeadLettered,
    /// Not sent: the address had bounced or complained.
    OtpSuppressed,
    /// SES delivered the email to the receiving server.
    OtpDelivered,
    OtpBounced,
    OtpComplained,
    V2Login,
    V2Logout,
    V2Register,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PinSet => "pin_set",
            EventKind::PinChanged => "pin_changed",
            EventKind::PinValidated => "pin_validated",
            EventKind::PinFailed => "pin_failed",
            EventKind::PinBlocked => "pin_blocked",
            EventKind::PinUnblocked => "pin_unblocked",
            EventKind::PinReset => "pin_reset",
            EventKind::PasswordValidated => "password_validated",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordSet => "password_set",
            EventKind::PasswordReset => "password_reset",
            EventKind::PasswordFailed => "password_failed",
            EventKind::PasswordThrottled => "password_throttled",
            EventKind::OtpRequested => "otp_requested",
            EventKind::OtpUsed => "otp_used",
            EventKind::OtpFailed => "otp_failed",
            EventKind::OtpSent => "otp_sent",
            EventKind::OtpSendFailed => "otp_send_failed",
            EventKind::OtpDeadLettered => "otp_dead_lettered",
            EventKind::OtpSuppressed => "otp_suppressed",
            EventKind::OtpDelivered => "otp_delivered",
            EventKind::OtpBounced => "otp_bounced",
            EventKind::OtpComplained => "otp_complained",
            EventKind::V2Login => "v2_login",
            EventKind::V2Logout => "v2_logout",
            EventKind::V2Register => "v2_register",
        }
    }
}

/// One line of a customer's security history. Never holds a secret: no PIN, password, code,
/// key or token, only what happened, where and to which outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEvent {
    pub merchant_id: u64,
    pub customer_id: u64,
    /// Unique, and in the order the events happened: `{at:011}-{micros:016}-{random:8 hex}`
    /// (`history::new_id`). The cursor of pagination.
    pub id: String,
    /// When (epoch seconds).
    pub at: i64,
    pub kind: EventKind,
    /// `ok`, the error code answered, or a delivery's outcome.
    pub outcome: String,
    /// The function that recorded it (`pin-validate`, `otp-dispatch`, `delivery-events`, `cli`).
    pub route: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<crate::delivery::Channel>,
    /// The failures counted in the window, this one included (PIN and password failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// The delivery's event ID (OTP events and their delivery outcomes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// What a one-time code was for (OTP events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<OtpPurpose>,
    /// When the store forgets it (the retention, `STAMPS_HISTORY_RETENTION_DAYS`).
    pub expires_at: i64,
}

/// A page of history, newest first; `next` is the `before` of the following page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventPage {
    pub events: Vec<SecurityEvent>,
    pub next: Option<String>,
}

/// The latest thing that happened to a delivery to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryOutcome {
    pub at: i64,
    pub channel: crate::delivery::Channel,
    /// `sent`, `failed`, `dead_lettered`, `suppressed`, `delivered`, `bounced`, `soft_bounced`
    /// or `complained`.
    pub outcome: String,
    /// The delivery's event ID.
    pub message_id: String,
}

/// An address that is not sent to again (a hard bounce or a complaint) until the merchant
/// updates the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub channel: crate::delivery::Channel,
    pub address: String,
    /// `bounced` or `complained`.
    pub reason: String,
    pub at: i64,
}

/// A customer's deliveries: the last outcome, and the suppressed addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeliveryState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<DeliveryOutcome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Suppression>,
}

impl DeliveryState {
    /// The suppression of `address` on `channel`, if it is suppressed. A suppression of an
    /// address the customer no longer has does not count.
    pub fn suppression(&self, channel: crate::delivery::Channel, address: &str) -> Option<&Suppression> {
        self.suppressed.iter().find(|s| s.channel == channel && s.address.eq_ignore_ascii_case(address))
    }
}

/// A change of a customer's contact fields: `None` leaves a field as it is, `Some(None)`
/// removes it, `Some(Some(value))` sets it (normalized: lowercased email, E.164 mobile). Naming a
/// field lifts the delivery suppression of its channel, even when its value does not change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactChange {
    pub email: Option<Option<String>>,
    pub mobile: Option<Option<String>>,
}

impl ContactChange {
    /// The channels whose suppressions the change lifts.
    pub fn channels(&self) -> Vec<crate::delivery::Channel> {
        let mut channels = Vec::new();
        if self.email.is_some() {
            channels.push(crate::delivery::Channel::Email);
        }
        if self.mobile.is_some() {
            channels.push(crate::delivery::Channel::Sms);
        }
        channels
    }
}

/// A support-console session. The cookie carries a random ID; the store keeps only its keyed
/// hash, so a copy of the table signs nobody in. The CSRF token is the session's own: a form
/// posted with another session's token is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSession {
    pub id_hash: String,
    pub merchant_id: u64,
    pub csrf_token: String,
    /// Epoch seconds; the session reads as absent from then on.
    pub expires_at: i64,
}
