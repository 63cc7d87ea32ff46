//! A customer's security history (docs/api.md section 11): every security-relevant thing that
//! happens to a customer — PIN, password, OTP and v2 sign-in events, and what became of the
//! codes sent — recorded with its time, route (the function), outcome and the client's address,
//! never a secret, and kept `STAMPS_HISTORY_RETENTION_DAYS` (a TTL, and filtered on read).
//!
//! Recording is best effort: the change it describes has already happened, so a store failure
//! is logged and the request answered as it would have been. The checks on the hot path
//! (`pin/validate`, `validate-password`, and `pin/unblock`) write their success event in
//! parallel with their last store call, never after it; the other routes write theirs after the
//! change it records (one more round trip, on routes a customer does not call every minute).
//!
//! Refused attempts while a PIN is blocked, a password throttled or the OTP limit reached are
//! counted in the metrics but not kept per customer: each would otherwise store one item per
//! request of an attacker. The failure that blocks (or throttles) is kept.
//!
//! `page` is what the `customer-events` route, the CLI and a support console call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::App;
use crate::context;
use crate::error::ApiError;
use crate::store::{EventKind, EventPage, SecurityEvent};

/// The outcome of an event that succeeded.
pub const OK: &str = "ok";
/// Events per page unless the caller asks for another number.
pub const DEFAULT_LIMIT: u32 = 20;
/// The most events one page holds.
pub const MAX_LIMIT: u32 = 100;

/// A new event ID: `{at:011}-{micros:016}-{random:8 hex}`. The time first makes IDs sort in the
/// order events happened (and lets a store query from a time); the wall clock's microseconds
/// order the events of one second (the request's clock, which tests set, counts seconds); the
/// random part keeps two processes' IDs apart.
pub fn new_id(at: i64) -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    let random = match crate::random::random_bytes::<4>() {
        Ok(bytes) => u32::from_be_bytes(bytes),
        // No randomness: a per-process sequence still orders this process's events.
        Err(_) => u32::try_from(FALLBACK.fetch_add(1, Ordering::Relaxed) % u64::from(u32::MAX)).unwrap_or(0),
    };
    format!("{:011}-{:016}-{random:08x}", at.max(0), micros % 10_u128.pow(16))
}

/// Whether `text` is an event ID (a `before` cursor).
pub fn is_id(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    matches!(parts.as_slice(), [at, micros, random]
        if at.len() == 11 && micros.len() == 16 && random.len() == 8
            && at.bytes().chain(micros.bytes()).all(|b| b.is_ascii_digit())
            && random.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The subject of a merchant's password failures against identifiers that name no customer
/// (customer IDs start at 1, so no route or command can show its history). Its events keep the
/// store calls of a wrong password the same for known and unknown identifiers (the enumeration
/// tests count them); they carry no identifier.
pub const UNKNOWN_CUSTOMER: u64 = 0;

/// An event of `kind` for the customer, now, by the current route from the current client.
pub fn event(app: &App, merchant_id: u64, customer_id: u64, kind: EventKind, outcome: &str) -> SecurityEvent {
    new_event(merchant_id, customer_id, kind, outcome, app.clock.now(), app.config.history_retention_secs)
}

/// An event of `kind` at `at`, kept `retention_secs`, by the current route from the current
/// client (for callers without an `App`: the queue workers).
pub fn new_event(
    merchant_id: u64,
    customer_id: u64,
    kind: EventKind,
    outcome: &str,
    at: i64,
    retention_secs: i64,
) -> SecurityEvent {
    SecurityEvent {
        merchant_id,
        customer_id,
        id: new_id(at),
        at,
        kind,
        outcome: outcome.to_string(),
        route: context::function().unwrap_or("cli").to_string(),
        source_ip: context::source_ip().map(|ip| ip.to_string()),
        channel: None,
        failures: None,
        message_id: None,
        purpose: None,
        expires_at: at.saturating_add(retention_secs),
    }
}

/// Stores `events` (none: no call). A failure is logged, not answered: what the events
/// describe has happened.
pub async fn record(app: &App, events: impl IntoIterator<Item = SecurityEvent>) {
    if let Some(store) = app.store.as_deref() {
        record_in(store, events).await;
    }
}

/// `record` into `store`.
pub async fn record_in(store: &dyn crate::store::History, events: impl IntoIterator<Item = SecurityEvent>) {
    let events: Vec<SecurityEvent> = events.into_iter().collect();
    if events.is_empty() {
        return;
    }
    if let Err(error) = store.record_events(&events).await {
        let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
        tracing::warn!(%error, ?kinds, merchant = events[0].merchant_id, customer = events[0].customer_id,
            "could not record security events");
    }
}

/// One page of the customer's history, newest first: at most `limit` events older than the
/// event `before` (the `next` of the previous page). Storage: 1 query.
pub async fn page(
    app: &App,
    merchant_id: u64,
    customer_id: u64,
    limit: u32,
    before: Option<&str>,
) -> Result<EventPage, ApiError> {
    let now = app.clock.now();
    // The oldest second still kept: an event at `at` lives while `at + retention > now`.
    let since = now.saturating_sub(app.config.history_retention_secs).saturating_add(1);
    Ok(app.store()?.events(merchant_id, customer_id, before, limit.clamp(1, MAX_LIMIT), since, now).await?)
}

/// An event as the API and the CLI show it.
pub fn to_json(event: &SecurityEvent) -> serde_json::Value {
    let mut value = serde_json::json!({
        "id": event.id,
        "at": event.at,
        "kind": event.kind.as_str(),
        "outcome": event.outcome,
        "route": event.route,
        "source_ip": event.source_ip,
    });
    if let Some(channel) = event.channel {
        value["channel"] = channel.as_str().into();
    }
    if let Some(failures) = event.failures {
        value["failures"] = failures.into();
    }
    if let Some(message_id) = &event.message_id {
        value["message_id"] = message_id.as_str().into();
    }
    if let Some(purpose) = event.purpose {
        value["purpose"] = purpose.as_str().into();
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_then_wall_clock_and_are_recognised() {
        let (a, b, later) = (new_id(1_800_000_000), new_id(1_800_000_000), new_id(1_800_000_001));
        assert!(a < b || a[..28] == b[..28], "{a} {b}");
        assert!(b < later);
        for id in [&a, &b, &later] {
            assert!(is_id(id), "{id}");
        }
        for bad in ["", "1800000000", "01800000000-0000000000000001-0000000g", "a-b-c", "01800000000--x"] {
            assert!(!is_id(bad), "{bad}");
        }
    }
}
