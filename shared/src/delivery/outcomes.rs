//! What became of each delivery, recorded per message (an event in the customer's history,
//! under the delivery's event ID) and per customer (the last outcome, and the addresses not to
//! send to again): what the dispatcher did with a message (sent, failed and to be retried,
//! dead-lettered, or not sent because the address is suppressed), and what SES later reported
//! (`ses_events`: delivered, bounced, complained).
//!
//! Recording is best effort, like the history: a message that was sent must not be sent again
//! because its record could not be written.

use super::OtpRequested;
use crate::history;
use crate::metrics::{self, Metric};
use crate::store::{DeliveryOutcome, EventKind, Store, Suppression};

/// The SES message tags of an email (names and values are ASCII letters, digits, `_` and `-`):
/// SES returns them with each event of the message.
pub const TAG_MERCHANT: &str = "stamps_merchant";
pub const TAG_CUSTOMER: &str = "stamps_customer";
pub const TAG_EVENT: &str = "stamps_event";

/// The tags that tie an email to its customer and delivery.
pub fn tags(event: &OtpRequested) -> Vec<(&'static str, String)> {
    vec![
        (TAG_MERCHANT, event.merchant_id.to_string()),
        (TAG_CUSTOMER, event.customer_id.to_string()),
        (TAG_EVENT, event.event_id.clone()),
    ]
}

/// What the dispatcher did with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    Sent,
    /// The send failed; the queue will deliver the message again.
    Failed,
    /// The send failed on the last receive the queue allows: the message goes to the
    /// dead-letter queue.
    DeadLettered,
    /// Not sent: the address bounced or complained before.
    Suppressed,
}

impl Dispatched {
    fn kind(self) -> EventKind {
        match self {
            Dispatched::Sent => EventKind::OtpSent,
            Dispatched::Failed => EventKind::OtpSendFailed,
            Dispatched::DeadLettered => EventKind::OtpDeadLettered,
            Dispatched::Suppressed => EventKind::OtpSuppressed,
        }
    }

    pub fn outcome(self) -> &'static str {
        match self {
            Dispatched::Sent => "sent",
            Dispatched::Failed => "failed",
            Dispatched::DeadLettered => "dead_lettered",
            Dispatched::Suppressed => "suppressed",
        }
    }

    fn metric(self) -> Option<Metric> {
        match self {
            Dispatched::Sent => Some(Metric::DeliveriesSent),
            Dispatched::Failed => Some(Metric::DeliveriesFailed),
            Dispatched::DeadLettered => Some(Metric::DeliveriesDeadLettered),
            Dispatched::Suppressed => None,
        }
    }
}

/// Counts and records what the dispatcher did with `event`: its metric, an event in the
/// customer's history and the customer's last delivery outcome (2 writes, in parallel).
pub async fn record_dispatch(
    store: &dyn Store,
    event: &OtpRequested,
    dispatched: Dispatched,
    now: i64,
    retention_secs: i64,
) {
    if let Some(metric) = dispatched.metric() {
        metrics::count_delivery(metric, event.channel);
    }
    let mut line = history::new_event(
        event.merchant_id,
        event.customer_id,
        dispatched.kind(),
        dispatched.outcome(),
        now,
        retention_secs,
    );
    line.channel = Some(event.channel);
    line.message_id = Some(event.event_id.clone());
    line.purpose = Some(event.purpose);
    let outcome = DeliveryOutcome {
        at: now,
        channel: event.channel,
        outcome: dispatched.outcome().to_string(),
        message_id: event.event_id.clone(),
    };
    let ((), kept) = tokio::join!(
        history::record_in(store, [line]),
        store.record_delivery(event.merchant_id, event.customer_id, &outcome, None)
    );
    if let Err(error) = kept {
        tracing::warn!(%error, event_id = %event.event_id, "could not record a delivery outcome");
    }
}

/// The suppression of `event`'s address, if it bounced or complained before: the dispatcher
/// does not send to it.
pub fn suppressed<'a>(state: &'a crate::store::DeliveryState, event: &OtpRequested) -> Option<&'a Suppression> {
    state.suppression(event.channel, &event.destination)
}
