//! Sending one event: read it, find and render the merchant's template, claim the event ID (so
//! a message the queue delivers twice sends once), send, and tell the caller whether a retry
//! can help. The same rules run in the `otp-dispatch` Lambda function and in the local server.
//!
//! An `otp.requested` event carries its code. A `password_reset_link.requested` event carries
//! only an email: the dispatcher looks it up, and for a customer issues a reset token under the
//! customer's limit of reset emails (`reset_link`) and sends it; for anyone else it sends
//! nothing. The route that published it did the same work either way.
//!
//! What became of each message is recorded for its customer (`outcomes`): sent, failed (to be
//! retried), dead-lettered (the last try failed), or not sent because the address bounced or
//! complained before.

use serde_json::Value;

#[cfg(feature = "render")]
use super::DeliveryError;
#[cfg(feature = "render")]
use super::OtpRequested;
use super::reset_link::ResetLinks;
use super::{
    Channel, EVENT_TYPE, EVENT_VERSION, EmailSender, Event, RESET_LINK_EVENT_TYPE, RESET_LINK_EVENT_VERSION, SmsSender,
};
use crate::store::Store;

/// How long a delivery mark outlives the code it delivered: a duplicate can arrive late.
pub const DEDUP_MARGIN_SECS: i64 = 86_400;

/// What happened to an event that needs no retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Already sent (or being sent) under the same event ID.
    Duplicate,
    /// The code had expired before it could be sent (a reset request an hour old): sending it
    /// would only confuse.
    Expired,
    /// A reset request for an email that names no customer: nothing to send.
    NoAccount,
    /// A reset request past the customer's limit of reset emails: nothing sent, the link
    /// emailed before still works.
    Throttled,
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
pub fn parse_event(body: &str) -> Result<Event, DispatchError> {
    let value: Value = serde_json::from_str(body).map_err(|e| DispatchError::Permanent(format!("not JSON: {e}")))?;
    let value = match (value.get("Type").and_then(Value::as_str), value.get("Message").and_then(Value::as_str)) {
        (Some("Notification"), Some(message)) => serde_json::from_str(message)
            .map_err(|e| DispatchError::Permanent(format!("SNS message is not JSON: {e}")))?,
        _ => value,
    };
    let kind = value.get("type").and_then(Value::as_str).unwrap_or_default();
    let version = value.get("version").and_then(Value::as_u64).unwrap_or_default();
    let malformed = |e: serde_json::Error| DispatchError::Permanent(format!("malformed event: {}", safe_reason(&e)));
    match (kind, version) {
        (EVENT_TYPE, v) if v == u64::from(EVENT_VERSION) => {
            serde_json::from_value(value).map(Event::Otp).map_err(malformed)
        }
        (RESET_LINK_EVENT_TYPE, v) if v == u64::from(RESET_LINK_EVENT_VERSION) => {
            serde_json::from_value(value).map(Event::ResetLink).map_err(malformed)
        }
        _ => Err(DispatchError::Permanent(format!(
            "not an {EVENT_TYPE} v{EVENT_VERSION} or {RESET_LINK_EVENT_TYPE} v{RESET_LINK_EVENT_VERSION} event"
        ))),
    }
}

/// A JSON error without the input that caused it: serde's messages can quote values, and an
/// event holds a code.
fn safe_reason(error: &serde_json::Error) -> String {
    format!("{:?} error in the event's fields", error.classify())
}

/// The services a dispatcher needs.
pub struct Dispatcher<'a> {
    /// Templates and delivery marks; for reset requests also customers, tokens and limits.
    pub store: &'a dyn Store,
    pub email: &'a dyn EmailSender,
    pub sms: &'a dyn SmsSender,
    pub reset_links: &'a ResetLinks,
    /// How long the outcomes' history events are kept.
    pub retention_secs: i64,
}

#[cfg(feature = "render")]
impl Dispatcher<'_> {
    /// Sends `event` at most once, and records what became of it for its customer; a failure
    /// on the `final_attempt` (the queue's last receive) is recorded as dead-lettered. See
    /// `Outcome` and `DispatchError`.
    pub async fn dispatch(&self, event: &Event, now: i64, final_attempt: bool) -> Result<Outcome, DispatchError> {
        match event {
            Event::Otp(event) => {
                let result = self.send_code(event, now).await;
                self.record(event, &result, now, final_attempt).await;
                result
            }
            Event::ResetLink(event) => self.send_reset_link(event, now, final_attempt).await,
        }
    }

    /// Counts and records the outcome of sending `message` (nothing for a duplicate, an expired
    /// code or a reset request that sends nothing).
    async fn record(
        &self,
        message: &OtpRequested,
        result: &Result<Outcome, DispatchError>,
        now: i64,
        final_attempt: bool,
    ) {
        use super::outcomes::Dispatched;
        let dispatched = match result {
            Ok(outcome) => recorded(*outcome),
            Err(_) if final_attempt => Some(Dispatched::DeadLettered),
            Err(_) => Some(Dispatched::Failed),
        };
        if let Some(dispatched) = dispatched {
            super::outcomes::record_dispatch(self.store, message, dispatched, now, self.retention_secs).await;
        }
    }

    async fn send_code(&self, event: &OtpRequested, now: i64) -> Result<Outcome, DispatchError> {
        if event.expires_at <= now {
            return Ok(Outcome::Expired);
        }
        let Some(rendered) = self.render(event).await? else {
            return Ok(Outcome::Suppressed);
        };
        if !self.claim(&event.event_id, event.expires_at, now).await? {
            return Ok(Outcome::Duplicate);
        }
        self.send(&event.event_id, &rendered).await.map(|()| Outcome::Sent)
    }

    /// Looks the email up; for a customer, renders the email with a fresh token, claims the
    /// event, stores the token under the customer's limit and sends. Storage: 1-2 reads (the
    /// lookup), then for a customer 1 read (template), 1 write
    /// (claim), 1 transaction (limit and token), and on a failed send 2 writes (give back).
    /// The lookup's cost shows nobody: the route has answered already.
    async fn send_reset_link(
        &self,
        event: &super::ResetLinkRequested,
        now: i64,
        final_attempt: bool,
    ) -> Result<Outcome, DispatchError> {
        use super::reset_link::{RESET_TEMPLATE, RESET_TOKEN_TTL_SECS};
        use crate::domain::otp::OtpPurpose;
        use crate::store::UniqueField;

        if event.requested_at.saturating_add(RESET_TOKEN_TTL_SECS) <= now {
            return Ok(Outcome::Expired);
        }
        let customer =
            self.store.customer_by(event.merchant_id, UniqueField::Email, &event.email).await.map_err(retry_store)?;
        let Some((customer, destination)) = customer.and_then(|c| c.email.clone().map(|email| (c, email))) else {
            return Ok(Outcome::NoAccount);
        };
        let token = ResetLinks::new_token(customer.id).map_err(|e| DispatchError::Retry(e.to_string()))?;
        let expires_at = now.saturating_add(RESET_TOKEN_TTL_SECS);
        let message = OtpRequested {
            kind: EVENT_TYPE.to_string(),
            version: EVENT_VERSION,
            event_id: event.event_id.clone(),
            merchant_id: customer.merchant_id,
            customer_id: customer.id,
            purpose: OtpPurpose::PasswordResetLink,
            channel: Channel::Email,
            destination,
            name: customer.name.clone(),
            template_code: RESET_TEMPLATE.to_string(),
            otp: super::Redacted(token),
            expires_at,
            requested_at: now,
        };
        let result = self.send_reset_message(event, &customer, &message, now).await;
        self.record(&message, &result, now, final_attempt).await;
        result
    }

    /// The rest of `send_reset_link`, once the customer and the message are known.
    async fn send_reset_message(
        &self,
        event: &super::ResetLinkRequested,
        customer: &crate::store::Customer,
        message: &OtpRequested,
        now: i64,
    ) -> Result<Outcome, DispatchError> {
        let expires_at = message.expires_at;
        let Some(rendered) = self.render(message).await? else {
            return Ok(Outcome::Suppressed);
        };
        // Claimed before the token is stored: a duplicate of the event issues nothing.
        if !self.claim(&event.event_id, expires_at, now).await? {
            return Ok(Outcome::Duplicate);
        }
        let stored = self.reset_links.store(self.store, customer, &message.otp.0, expires_at, now).await;
        match stored {
            Ok(true) => {
                crate::metrics::count(crate::metrics::Metric::OtpRequested);
                let mut requested = crate::history::new_event(
                    customer.merchant_id,
                    customer.id,
                    crate::store::EventKind::OtpRequested,
                    crate::history::OK,
                    now,
                    self.retention_secs,
                );
                (requested.purpose, requested.channel) = (Some(message.purpose), Some(message.channel));
                requested.message_id = Some(message.event_id.clone());
                crate::history::record_in(self.store, [requested]).await;
            }
            // The claim stays: the same event is throttled again, whenever it comes.
            Ok(false) => {
                crate::metrics::count(crate::metrics::Metric::OtpLimitHits);
                return Ok(Outcome::Throttled);
            }
            Err(error) => {
                self.release(&event.event_id).await;
                return Err(retry_store(error));
            }
        }
        if let Err(error) = self.send(&event.event_id, &rendered).await {
            // Not sent: the place in the customer's limit goes back with the claim. The stored
            // token stays, undelivered, until the retry replaces it.
            if let Err(give_back) = self.reset_links.give_back(self.store, customer, now).await {
                tracing::warn!(event_id = %event.event_id, error = %give_back, "could not give back a reset email");
            }
            return Err(error);
        }
        Ok(Outcome::Sent)
    }

    /// The merchant's template for `event` (or the built-in one), rendered; `None` when the
    /// address bounced or complained before (both read at once).
    async fn render(&self, event: &OtpRequested) -> Result<Option<super::render::Rendered>, DispatchError> {
        let (stored, deliveries) = tokio::join!(
            self.store.template(event.merchant_id, &event.template_code),
            self.store.delivery_state(event.merchant_id, event.customer_id)
        );
        if super::outcomes::suppressed(&deliveries.map_err(retry_store)?, event).is_some() {
            return Ok(None);
        }
        let stored = stored.map_err(retry_store)?;
        let template = stored.or_else(|| super::builtin(&event.template_code)).ok_or_else(|| {
            DispatchError::Permanent(format!(
                "merchant {} has no template {:?}",
                event.merchant_id, event.template_code
            ))
        })?;
        super::render::render(&template, event).map(Some).map_err(|e| DispatchError::Permanent(e.to_string()))
    }

    /// Claims `event_id` until well after the code expires: `false` for a duplicate.
    async fn claim(&self, event_id: &str, expires_at: i64, now: i64) -> Result<bool, DispatchError> {
        self.store.claim_delivery(event_id, expires_at + DEDUP_MARGIN_SECS, now).await.map_err(retry_store)
    }

    async fn release(&self, event_id: &str) {
        if let Err(release) = self.store.release_delivery(event_id).await {
            tracing::warn!(event_id, error = %release, "could not release a delivery claim");
        }
    }

    /// Sends a claimed message; a failure gives the claim back so that a retry can send.
    async fn send(&self, event_id: &str, rendered: &super::render::Rendered) -> Result<(), DispatchError> {
        use super::render::Rendered;
        let sent = match rendered {
            Rendered::Email(message) => self.email.send_email(message).await,
            Rendered::Sms { to, text } => self.sms.send_sms(to, text).await,
        };
        let Err(error) = sent else {
            return Ok(());
        };
        self.release(event_id).await;
        Err(match error {
            DeliveryError::Unavailable(reason) => DispatchError::Retry(reason),
            DeliveryError::Rejected(reason) => DispatchError::Permanent(reason),
        })
    }
}

/// What of a dispatch that needs no retry is recorded (not a duplicate, whose first delivery
/// was, nor what sent nothing: an expired code, a reset request for nobody or over its limit).
pub fn recorded(outcome: Outcome) -> Option<super::outcomes::Dispatched> {
    match outcome {
        Outcome::Sent => Some(super::outcomes::Dispatched::Sent),
        Outcome::Suppressed => Some(super::outcomes::Dispatched::Suppressed),
        Outcome::Duplicate | Outcome::Expired | Outcome::NoAccount | Outcome::Throttled => None,
    }
}

#[cfg(feature = "render")]
fn retry_store(error: crate::store::StoreError) -> DispatchError {
    DispatchError::Retry(error.to_string())
}

/// The log fields of an event: never its code, its destination or the email asked about.
pub fn describe(event: &Event) -> String {
    let event = match event {
        Event::Otp(event) => event,
        Event::ResetLink(event) => {
            return format!("event {} merchant {} v2 reset link request", event.event_id, event.merchant_id);
        }
    };
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
        let reset = crate::delivery::ResetLinkRequested::new(1, "ann@example.com".into(), 1_400).expect("random");
        for event in [Event::Otp(event()), Event::ResetLink(reset)] {
            let raw = serde_json::to_string(&event).expect("json");
            assert_eq!(parse_event(&raw).expect("raw"), event);
            let envelope = serde_json::json!({"Type": "Notification", "MessageId": "x", "Message": raw}).to_string();
            assert_eq!(parse_event(&envelope).expect("wrapped"), event);
        }
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
        assert!(!describe(&Event::Otp(event())).contains("987654"));
        assert!(!describe(&Event::Otp(event())).contains("+6281234567890"));
        let reset = crate::delivery::ResetLinkRequested::new(1, "ann@example.com".into(), 1_400).expect("random");
        assert!(!describe(&Event::ResetLink(reset)).contains("ann@"));
    }
}
