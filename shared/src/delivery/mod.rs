//! OTP delivery (docs/api.md section 6.2): the `otp.requested` event, the ports it travels through, and
//! the dispatch rules.
//!
//! A request route that is given a `template_code` stores the OTP, publishes an event through
//! an `EventPublisher` and answers at once. A dispatcher consumes the event and sends it:
//! email through an `EmailSender`, SMS through an `SmsSender`. On AWS the publisher is an SNS
//! topic feeding an SQS queue that triggers the `otp-dispatch` function; locally the server
//! dispatches in-process after answering and writes each message to an outbox folder.
//!
//! The anonymous v2 `forgot_password` publishes less: only the address asked about
//! (`ResetLinkRequested`). The dispatcher finds out whether it names a customer and issues the
//! token (`reset_link`), so the route does the same work and gives the same answer for every
//! email, even with SNS down.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::otp::OtpPurpose;
use crate::domain::secrets::RandomUnavailable;
use crate::random::random_hex;
use crate::store::Template;

pub mod dispatch;
pub mod outbox;
pub mod outcomes;
#[cfg(feature = "render")]
pub mod render;
pub mod reset_link;
#[cfg(feature = "ses")]
pub mod ses;
#[cfg(feature = "aws")]
pub mod ses_events;
#[cfg(feature = "sns")]
pub mod sns;

pub const EVENT_TYPE: &str = "otp.requested";
pub const EVENT_VERSION: u32 = 1;
pub const RESET_LINK_EVENT_TYPE: &str = "password_reset_link.requested";
pub const RESET_LINK_EVENT_VERSION: u32 = 1;

/// How a code reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// A secret that serializes as itself but never prints: `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The event a request route publishes (version 1). It carries the code itself, because the
/// store keeps only its keyed hash; the topic and queue are encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpRequested {
    /// Always `otp.requested`.
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u32,
    /// 32 lowercase hex: the de-duplication key of the dispatcher.
    pub event_id: String,
    pub merchant_id: u64,
    pub customer_id: u64,
    pub purpose: OtpPurpose,
    pub channel: Channel,
    /// An email address or an E.164 mobile number.
    pub destination: String,
    /// The customer's name, for `{{ name }}`.
    #[serde(default)]
    pub name: String,
    pub template_code: String,
    pub otp: Redacted,
    /// When the code stops working (epoch seconds).
    pub expires_at: i64,
    /// When it was requested (epoch seconds).
    pub requested_at: i64,
}

/// What an event is about, before it gets its ID.
#[derive(Debug, Clone)]
pub struct OtpDelivery {
    pub merchant_id: u64,
    pub customer_id: u64,
    pub purpose: OtpPurpose,
    pub channel: Channel,
    pub destination: String,
    pub name: String,
    pub template_code: String,
    pub otp: String,
    pub expires_at: i64,
    pub requested_at: i64,
}

impl OtpRequested {
    pub fn new(delivery: OtpDelivery) -> Result<OtpRequested, RandomUnavailable> {
        Ok(OtpRequested {
            kind: EVENT_TYPE.to_string(),
            version: EVENT_VERSION,
            event_id: random_hex::<16>()?,
            merchant_id: delivery.merchant_id,
            customer_id: delivery.customer_id,
            purpose: delivery.purpose,
            channel: delivery.channel,
            destination: delivery.destination,
            name: delivery.name,
            template_code: delivery.template_code,
            otp: Redacted(delivery.otp),
            expires_at: delivery.expires_at,
            requested_at: delivery.requested_at,
        })
    }
}

/// The event of the v2 `forgot_password` (version 1): someone asked for a reset email for
/// `email`. It carries no token and does not say whether the email is a customer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetLinkRequested {
    /// Always `password_reset_link.requested`.
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u32,
    /// 32 lowercase hex: the de-duplication key of the dispatcher.
    pub event_id: String,
    pub merchant_id: u64,
    /// Normalized (lowercased) as the route received it. Never logged.
    pub email: String,
    /// When it was asked for (epoch seconds).
    pub requested_at: i64,
}

impl ResetLinkRequested {
    pub fn new(merchant_id: u64, email: String, requested_at: i64) -> Result<ResetLinkRequested, RandomUnavailable> {
        Ok(ResetLinkRequested {
            kind: RESET_LINK_EVENT_TYPE.to_string(),
            version: RESET_LINK_EVENT_VERSION,
            event_id: random_hex::<16>()?,
            merchant_id,
            email,
            requested_at,
        })
    }
}

/// Any event a route publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    Otp(OtpRequested),
    ResetLink(ResetLinkRequested),
}

impl Event {
    /// Its `type` (also an SNS message attribute, for subscriptions to filter on).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Otp(_) => EVENT_TYPE,
            Event::ResetLink(_) => RESET_LINK_EVENT_TYPE,
        }
    }

    pub fn event_id(&self) -> &str {
        match self {
            Event::Otp(event) => &event.event_id,
            Event::ResetLink(event) => &event.event_id,
        }
    }
}

impl From<OtpRequested> for Event {
    fn from(event: OtpRequested) -> Event {
        Event::Otp(event)
    }
}

impl From<ResetLinkRequested> for Event {
    fn from(event: ResetLinkRequested) -> Event {
        Event::ResetLink(event)
    }
}

/// Why a publish or a send failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The service is down, slow or throttling: trying again later can succeed.
    #[error("delivery service unavailable: {0}")]
    Unavailable(String),
    /// The message can never be sent as it is (bad address, refused content).
    #[error("delivery refused: {0}")]
    Rejected(String),
}

/// Where a request route puts its event.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &Event) -> Result<(), DeliveryError>;
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Sent as SES message tags, which SES's delivery, bounce and complaint events carry back:
    /// they say which customer and which delivery an outcome is about (`outcomes::tags`).
    #[serde(skip)]
    pub tags: Vec<(&'static str, String)>,
}

#[async_trait]
pub trait EmailSender: Send + Sync {
    async fn send_email(&self, message: &EmailMessage) -> Result<(), DeliveryError>;
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends a transactional SMS to an E.164 number.
    async fn send_sms(&self, to: &str, text: &str) -> Result<(), DeliveryError>;
}

/// The built-in templates, used when a merchant has not stored one under the same code.
pub fn builtin(code: &str) -> Option<Template> {
    match code {
        // The mobile app API v2 reset email (`/api/v2/auth/forgot_password`).
        "forgot_password" => Some(Template {
            code: code.to_string(),
            subject: Some("Reset your password".into()),
            text: Some(
                "Hello {{ name }},\n\nUse this code to reset your password: {{ otp }}\n\
                 It works once, within {{ expires_in_minutes }} minutes.\n\n\
                 If you did not ask for it, ignore this email."
                    .into(),
            ),
            html: Some(
                "<p>Hello {{ name }},</p><p>Use this code to reset your password: <b>{{ otp }}</b></p>\
                 <p>It works once, within {{ expires_in_minutes }} minutes.</p>\
                 <p>If you did not ask for it, ignore this email.</p>"
                    .into(),
            ),
            sms: None,
            ..Template::default()
        }),
        _ => None,
    }
}
