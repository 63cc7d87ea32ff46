//! Sending one `otp.requested` event: read it, find and render the merchant's template, claim
//! the event ID (so a message the queue delivers twice sends once), send, and tell the caller
//! whether a retry can help. The same rules run in the `otp-dispatch` Lambda function and in
//! the local server.

use serde_json::Value;

#[cfg(feature = "render")]
use super::DeliveryError;
use super::{Channel, EVENT_TYPE, EVENT_VERSION, EmailSender, OtpRequested, SmsSender};
use crate::store::{Deliveries, DeliveryOutcomes, Templates};

/// How long a delivery mark outlives the code it delivered: a duplicate can arrive late.
pub const DEDUP_MARGIN_SECS: i64 = 86_400;

/// What happened to an event that needs no retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Already sent (or being sent) under the same event ID.
    Duplicate,
    /// The code had expired before it could be sent: sending it would only confuse.
    Expired,
    /// The address bounced or complained before (since the code was requested): not sent.
    Suppressed,
}

/// Why an event was not sent.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// A service was down or slow: the queue should deliver the message again.
    #[error("retry later: {0}")]
    Retry(String),
    /// The message can never be sent (malformed event, unknown template, refused address):
    /// report it; the queue parks it in the dead-letter queue.
    #[error("cannot be sent: {0}")]
    Permanent(String),
}

/// Reads an event from a queue message body: the event itself (raw message delivery) or an
/// SNS notification envelope around it.
pub fn parse_event(body: &str) -> Result<OtpRequested, DispatchError> {
    let value: Value = serde_json::from_str(body).map_err(|e| DispatchError::Permanent(format!("not JSON: {e}")))?;
    let value = match (value.get("Type").and_then(Value::as_str), value.get("Message").and_then(Value::as_str)) {
        (Some("Notification"), Some(message)) => serde_json::from_str(message)
            .map_err(|e| DispatchError::Permanent(format!("SNS message is not JSON: {e}")))?,
        _ => value,
    };
    let kind = value.get("type").and_then(Value::as_str).unwrap_or_default();
    let version = value.get("version").and_then(Value::as_u64).unwrap_or_default();
    if kind != EVENT_TYPE || version != u64::from(EVENT_VERSION) {
        return Err(DispatchError::Permanent(format!("not an {EVENT_TYPE} v{EVENT_VERSION} event")));
    }
    serde_json::from_value(value).map_err(|e| DispatchError::Permanent(format!("malformed event: {}", safe_reason(&e))))
}

/// A JSON error without the input that caused it: serde's messages can quote values, and an
/// event holds a code.
fn safe_reason(error: &serde_json::Error) -> String {
    format!("{:?} error in the event's fields", error.classify())
}

/// The services a dispatcher needs.
pub struct Dispatcher<'a> {
    pub templates: &'a dyn Templates,
    pub deliveries: &'a dyn Deliveries,
    /// The customer's suppressed addresses.
    pub outcomes: &'a dyn DeliveryOutcomes,
    pub email: &'a dyn EmailSender,
    pub sms: &'a dyn SmsSender,
}

impl Dispatcher<'_> {
    /// Sends `event` at most once. See `Outcome` and `DispatchError`.
    #[cfg(feature = "render")]
    pub async fn dispatch(&self, event: &OtpRequested, now: i64) -> Result<Outcome, DispatchError> {
        use super::builtin;
        use super::render::{Rendered, render};

        if event.expires_at <= now {
            return Ok(Outcome::Expired);
        }
        // The address may have bounced since the code was requested: read both at once.
        let (stored, state) = tokio::join!(
            self.templates.template(event.merchant_id, &event.template_code),
            self.outcomes.delivery_state(event.merchant_id, event.customer_id)
        );
        if super::outcomes::suppressed(&state.map_err(retry_store)?, event).is_some() {
            return Ok(Outcome::Suppressed);
        }
        let stored = stored.map_err(retry_store)?;
        let template = stored.or_else(|| builtin(&event.template_code)).ok_or_else(|| {
            DispatchError::Permanent(format!(
                "merchant {} has no template {:?}",
                event.merchant_id, event.template_code
            ))
        })?;
        let rendered = render(&template, event).map_err(|e| DispatchError::Permanent(e.to_string()))?;
        let claimed = self
            .deliveries
            .claim_delivery(&event.event_id, event.expires_at + DEDUP_MARGIN_SECS, now)
            .await
            .map_err(retry_store)?;
        if !claimed {
            return Ok(Outcome::Duplicate);
        }
        let sent = match &rendered {
            Rendered::Email(message) => self.email.send_email(message).await,
            Rendered::Sms { to, text } => self.sms.send_sms(to, text).await,
        };
        match sent {
            Ok(()) => Ok(Outcome::Sent),
            Err(error) => {
                // Not sent: give the claim back so that a retry can send.
                if let Err(release) = self.deliveries.release_delivery(&event.event_id).await {
                    tracing::warn!(event_id = %event.event_id, error = %release, "could not release a delivery claim");
                }
                Err(match error {
                    DeliveryError::Unavailable(reason) => DispatchError::Retry(reason),
                    DeliveryError::Rejected(reason) => DispatchError::Permanent(reason),
                })
            }
        }
    }
}

/// What of a dispatch that needs no retry is recorded (duplicates and expired codes are not:
/// nothing was sent, and the first delivery of a duplicate was recorded).
pub fn recorded(outcome: Outcome) -> Option<super::outcomes::Dispatched> {
    match outcome {
        Outcome::Sent => Some(super::outcomes::Dispatched::Sent),
        Outcome::Suppressed => Some(super::outcomes::Dispatched::Suppressed),
        Outcome::Duplicate | Outcome::Expired => None,
    }
}

#[cfg(feature = "render")]
fn retry_store(error: crate::store::StoreError) -> DispatchError {
    DispatchError::Retry(error.to_string())
}

/// The log fields of an event: never its code or its destination.
pub fn describe(event: &OtpRequested) -> String {
    let channel = match event.channel {
        Channel::Email => "email",
        Channel::Sms => "sms",
    };
    format!(
        "event {} merchant {} customer {} {} via {channel} template {:?}",
        event.event_id,
        event.merchant_id,
        event.customer_id,
        event.purpose.as_str(),
        event.template_code
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{OtpDelivery, OtpRequested};
    use crate::domain::otp::OtpPurpose;

    fn event() -> OtpRequested {
        OtpRequested::new(OtpDelivery {
            merchant_id: 1,
            customer_id: 2,
            purpose: OtpPurpose::PasswordReset,
            channel: Channel::Sms,
            destination: "+6281234567890".into(),
            name: "Ann".into(),
            template_code: "reset".into(),
            otp: "987654".into(),
            expires_at: 2_000,
            requested_at: 1_400,
        })
        .expect("random")
    }

    #[test]
    fn raw_and_sns_wrapped_events_parse_alike() {
        let event = event();
        let raw = serde_json::to_string(&event).expect("json");
        assert_eq!(parse_event(&raw).expect("raw"), event);
        let envelope = serde_json::json!({"Type": "Notification", "MessageId": "x", "Message": raw}).to_string();
        assert_eq!(parse_event(&envelope).expect("wrapped"), event);
    }

    #[test]
    fn malformed_events_are_permanent_and_never_echo_the_code() {
        for body in ["", "nope", "[]", r#"{"type": "otp.requested", "version": 2}"#, r#"{"type": "other"}"#] {
            assert!(matches!(parse_event(body), Err(DispatchError::Permanent(_))), "{body}");
        }
        let mut value = serde_json::to_value(event()).expect("json");
        value["channel"] = serde_json::json!("fax 987654");
        let error = parse_event(&value.to_string()).expect_err("bad channel");
        assert!(!error.to_string().contains("987654"), "{error}");
        let mut value = serde_json::to_value(event()).expect("json");
        value.as_object_mut().map(|o| o.remove("destination"));
        assert!(matches!(parse_event(&value.to_string()), Err(DispatchError::Permanent(_))));
    }

    #[test]
    fn debug_output_hides_the_code() {
        let printed = format!("{:?}", event());
        assert!(!printed.contains("987654"), "{printed}");
        assert!(!describe(&event()).contains("987654"));
        assert!(!describe(&event()).contains("+6281234567890"));
    }
}
