//! SES's reports on the emails the dispatcher sent: delivery, bounce and complaint events of the
//! configuration set (`STAMPS_SES_CONFIGURATION_SET`), which SES publishes to an SNS topic that
//! feeds the `delivery-events` function's queue. Each email carries the tags of its customer and
//! delivery (`outcomes::tags`), which come back in `mail.tags`; an event without them is not
//! about one of our codes and is skipped.
//!
//! A hard bounce or a complaint suppresses the address: no code is sent to it again until the
//! merchant updates the customer (`Customers::update_contact`).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Channel;
use super::outcomes::{TAG_CUSTOMER, TAG_EVENT, TAG_MERCHANT};
use crate::history;
use crate::metrics::{self, Metric};
use crate::store::{DeliveryOutcome, EventKind, Store, StoreResult, Suppression};

/// What SES reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    Delivered,
    /// A hard (`Permanent`) bounce, or a soft one.
    Bounced {
        permanent: bool,
    },
    Complained,
}

impl Reported {
    pub fn outcome(self) -> &'static str {
        match self {
            Reported::Delivered => "delivered",
            Reported::Bounced { permanent: true } => "bounced",
            Reported::Bounced { permanent: false } => "soft_bounced",
            Reported::Complained => "complained",
        }
    }

    fn kind(self) -> EventKind {
        match self {
            Reported::Delivered => EventKind::OtpDelivered,
            Reported::Bounced { .. } => EventKind::OtpBounced,
            Reported::Complained => EventKind::OtpComplained,
        }
    }

    /// Whether the address must not be sent to again.
    pub fn suppresses(self) -> bool {
        matches!(self, Reported::Bounced { permanent: true } | Reported::Complained)
    }
}

/// One SES event about one of our emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesOutcome {
    pub merchant_id: u64,
    pub customer_id: u64,
    /// Our delivery's event ID.
    pub event_id: String,
    pub reported: Reported,
    /// The addresses it is about (the bounced or complaining ones).
    pub recipients: Vec<String>,
    /// When it happened, epoch seconds and the microseconds within.
    pub at: i64,
    pub at_micros: u32,
    /// SES's message ID.
    pub ses_message_id: String,
}

/// Reads one queue message: an SES event, raw or in an SNS notification. `Ok(None)`: an event
/// that is not about one of our codes, or of a type not recorded (send, open...).
pub fn parse(body: &str) -> Result<Option<SesOutcome>, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let value = match (value.get("Type").and_then(Value::as_str), value.get("Message").and_then(Value::as_str)) {
        (Some("Notification"), Some(message)) => {
            serde_json::from_str(message).map_err(|e| format!("SNS message is not JSON: {e}"))?
        }
        _ => value,
    };
    // Configuration-set events say `eventType`; identity notifications `notificationType`.
    let kind = value.get("eventType").or_else(|| value.get("notificationType")).and_then(Value::as_str);
    let (reported, detail, recipients) = match kind {
        Some("Delivery") => {
            let detail = &value["delivery"];
            let recipients = strings(&detail["recipients"]);
            (Reported::Delivered, detail, recipients)
        }
        Some("Bounce") => {
            let detail = &value["bounce"];
            let permanent = detail["bounceType"].as_str() == Some("Permanent");
            (Reported::Bounced { permanent }, detail, addresses(&detail["bouncedRecipients"]))
        }
        Some("Complaint") => {
            let detail = &value["complaint"];
            (Reported::Complained, detail, addresses(&detail["complainedRecipients"]))
        }
        Some(_) => return Ok(None),
        None => return Err("neither eventType nor notificationType".into()),
    };
    let mail = &value["mail"];
    let tag = |name: &str| mail["tags"][name].as_array().and_then(|values| values.first()).and_then(Value::as_str);
    let (Some(merchant), Some(customer), Some(event_id)) = (tag(TAG_MERCHANT), tag(TAG_CUSTOMER), tag(TAG_EVENT))
    else {
        return Ok(None);
    };
    let (merchant_id, customer_id) = match (merchant.parse::<u64>(), customer.parse::<u64>()) {
        (Ok(merchant), Ok(customer)) => (merchant, customer),
        _ => return Err("tags that are not IDs".into()),
    };
    let timestamp = detail["timestamp"].as_str().or_else(|| mail["timestamp"].as_str()).unwrap_or_default();
    let time = aws_smithy_types::DateTime::from_str(timestamp, aws_smithy_types::date_time::Format::DateTime)
        .map_err(|e| format!("timestamp {timestamp:?}: {e}"))?;
    Ok(Some(SesOutcome {
        merchant_id,
        customer_id,
        event_id: event_id.to_string(),
        reported,
        recipients,
        at: time.secs(),
        at_micros: time.subsec_nanos() / 1_000,
        ses_message_id: mail["messageId"].as_str().unwrap_or_default().to_string(),
    }))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_lowercase).collect())
        .unwrap_or_default()
}

fn addresses(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| list.iter().filter_map(|r| r["emailAddress"].as_str()).map(str::to_lowercase).collect())
        .unwrap_or_default()
}

/// Records `outcome`: counts a hard bounce or a complaint, adds the event to the customer's
/// history and keeps it as the customer's last delivery outcome, suppressing the address when
/// it must not be sent to again (2 writes, in parallel). The event's ID comes from SES's event,
/// so a message the queue delivers twice records it once.
pub async fn record(store: &dyn Store, outcome: &SesOutcome, retention_secs: i64) -> StoreResult<()> {
    match outcome.reported {
        Reported::Bounced { permanent: true } => metrics::count(Metric::DeliveryBounces),
        Reported::Complained => metrics::count(Metric::DeliveryComplaints),
        _ => {}
    }
    let (merchant_id, customer_id) = (outcome.merchant_id, outcome.customer_id);
    let mut event = history::new_event(
        merchant_id,
        customer_id,
        outcome.reported.kind(),
        outcome.reported.outcome(),
        outcome.at,
        retention_secs,
    );
    let digest = Sha256::digest(format!("{}/{}", outcome.ses_message_id, outcome.reported.outcome()));
    event.id = format!(
        "{:011}-{:016}-{}",
        outcome.at.max(0),
        outcome.at.max(0) * 1_000_000 + i64::from(outcome.at_micros),
        &hex::encode(digest)[..8]
    );
    event.channel = Some(Channel::Email);
    event.message_id = Some(outcome.event_id.clone());
    let last = DeliveryOutcome {
        at: outcome.at,
        channel: Channel::Email,
        outcome: outcome.reported.outcome().to_string(),
        message_id: outcome.event_id.clone(),
    };
    let suppression = outcome.recipients.first().filter(|_| outcome.reported.suppresses()).map(|address| Suppression {
        channel: Channel::Email,
        address: address.clone(),
        reason: outcome.reported.outcome().to_string(),
        at: outcome.at,
    });
    let (recorded, kept) = tokio::join!(
        store.record_events(std::slice::from_ref(&event)),
        store.record_delivery(merchant_id, customer_id, &last, suppression.as_ref())
    );
    recorded.and(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bounce(kind: &str) -> Value {
        json!({
            "eventType": "Bounce",
            "bounce": {"bounceType": kind, "bounceSubType": "General", "timestamp": "2027-01-15T08:00:01.250Z",
                       "bouncedRecipients": [{"emailAddress": "Ann@Example.com"}], "feedbackId": "f"},
            "mail": {"timestamp": "2027-01-15T08:00:00.000Z", "messageId": "ses-1", "destination": ["ann@example.com"],
                     "tags": {"ses:configuration-set": ["stamps"], "stamps_merchant": ["3"], "stamps_customer": ["12"],
                              "stamps_event": ["0123456789abcdef0123456789abcdef"]}}
        })
    }

    #[test]
    fn events_are_read_raw_or_in_an_sns_notification() {
        let raw = bounce("Permanent").to_string();
        let outcome = parse(&raw).expect("parsed").expect("ours");
        assert_eq!((outcome.merchant_id, outcome.customer_id), (3, 12));
        assert_eq!(outcome.reported, Reported::Bounced { permanent: true });
        assert_eq!(outcome.recipients, ["ann@example.com"]);
        assert_eq!((outcome.at, outcome.at_micros), (1_800_000_001, 250_000));
        let wrapped = json!({"Type": "Notification", "Message": raw}).to_string();
        assert_eq!(parse(&wrapped).expect("parsed"), Some(outcome));
        let soft = parse(&bounce("Transient").to_string()).expect("parsed").expect("ours");
        assert!(!soft.reported.suppresses());
    }

    #[test]
    fn events_of_other_mail_or_types_are_skipped_and_garbage_is_refused() {
        let mut other = bounce("Permanent");
        other["mail"]["tags"] = json!({"ses:configuration-set": ["stamps"]});
        assert_eq!(parse(&other.to_string()), Ok(None));
        let mut open = bounce("Permanent");
        open["eventType"] = json!("Open");
        assert_eq!(parse(&open.to_string()), Ok(None));
        assert!(parse("nope").is_err());
        assert!(parse("{}").is_err());
    }
}
