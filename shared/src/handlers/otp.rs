//! The OTP machinery shared by the PIN and password routes (docs/api.md section 6): requesting a code
//! (limit, storage, optional delivery) and checking one (a try reserved atomically first).

use serde_json::json;

use crate::App;
use crate::delivery::{Channel, Event, OtpDelivery, OtpRequested};
use crate::domain::otp::{self, OtpPurpose};
use crate::error::{ApiError, ErrorCode};
use crate::handlers::customer;
use crate::history;
use crate::http::Reply;
use crate::http::body::Fields;
use crate::metrics::{self, Metric};
use crate::store::{Customer, EventKind, OtpEffect, OtpRecord, keys};

/// How `type` is read: optional with a default (PIN reset) or required (password reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeField {
    Optional,
    Required,
}

/// The request limit of docs/api.md section 6.1: N requests per window, all purposes together.
pub fn request_limit(app: &App) -> crate::store::CounterPolicy {
    crate::store::CounterPolicy {
        limit: app.config.otp_requests_per_window,
        window_secs: app.config.otp_request_window_secs,
        window: crate::store::Window::Fixed,
    }
}

fn channel(fields: &Fields, rule: TypeField) -> Result<Option<Channel>, ApiError> {
    match fields.optional_text("type")?.as_deref() {
        None if rule == TypeField::Required => Err(ApiError::required("type")),
        None => Ok(None),
        Some("sms") => Ok(Some(Channel::Sms)),
        Some("email") => Ok(Some(Channel::Email)),
        Some(other) => Err(ApiError::invalid("type", format!("\"{other}\" is not a valid choice."))),
    }
}

/// Where a code for `customer` goes on `channel`.
fn destination(customer: &Customer, channel: Channel) -> Result<String, ApiError> {
    let (value, message) = match channel {
        Channel::Sms => (&customer.mobile, "Customer has no mobile number."),
        Channel::Email => (&customer.email, "Customer has no email."),
    };
    value.clone().ok_or_else(|| ApiError::field(ErrorCode::NoDestination, "type", message))
}

/// Handles a request for a new code: `{<field>, type, template_code?}`. The code is always in
/// the answer (as documented); with `template_code` it is also delivered, through an event
/// published after the code is stored, unless the address bounced or complained before.
/// Storage: the customer lookup, 2 reads in parallel when a template is named (the template,
/// the customer's deliveries), 1 transaction (count the request and store the code), 1 write
/// (the history event).
pub async fn request(
    app: &App,
    merchant_id: u64,
    fields: &Fields,
    field: &str,
    purpose: OtpPurpose,
    rule: TypeField,
) -> Result<Reply, ApiError> {
    if !fields.has(field) {
        return Err(ApiError::required(field));
    }
    let chosen = channel(fields, rule)?;
    let template_code = fields.optional_text("template_code")?;
    let customer = customer::resolve(app, merchant_id, fields, field).await?;
    let channel = chosen.unwrap_or(if customer.mobile.is_some() { Channel::Sms } else { Channel::Email });
    // A destination is needed only when the code is to be delivered.
    let delivery = match template_code {
        None => None,
        Some(code) => {
            let destination = destination(&customer, channel)?;
            let store = app.store()?;
            let (template, deliveries) =
                tokio::join!(store.template(merchant_id, &code), store.delivery_state(merchant_id, customer.id));
            if let Some(suppression) = deliveries?.suppression(channel, &destination) {
                return Err(suppressed(channel, &suppression.reason));
            }
            let known = template?.is_some() || crate::delivery::builtin(&code).is_some();
            if !known {
                return Err(ApiError::field(ErrorCode::InvalidTemplateCode, "template_code", "Unknown template."));
            }
            // Fail before anything is stored when delivery cannot happen.
            app.publisher()?;
            Some((code, destination))
        }
    };
    let code = otp::generate(&crate::random::OsRandom)?;
    let now = app.clock.now();
    let expires_at = now.saturating_add(app.config.otp_ttl_secs);
    issue(app, &customer, purpose, &code, expires_at, field).await?;
    let mut event = history::event(app, merchant_id, customer.id, EventKind::OtpRequested, history::OK);
    event.purpose = Some(purpose);
    if let Some((template_code, destination)) = delivery {
        let otp_event = OtpRequested::new(OtpDelivery {
            merchant_id,
            customer_id: customer.id,
            purpose,
            channel,
            destination,
            name: customer.name.clone(),
            template_code,
            otp: code.clone(),
            expires_at,
            requested_at: now,
        })?;
        let message_id = otp_event.event_id.clone();
        publish(app, &otp_event.into(), merchant_id, customer.id).await?;
        event.channel = Some(channel);
        event.message_id = Some(message_id);
    }
    history::record(app, [event]).await;
    Ok(Reply::secret(json!({"status": "ok", "otp": code})))
}

/// The answer to a request to deliver to an address that bounced or complained.
pub fn suppressed(channel: Channel, reason: &str) -> ApiError {
    let (what, field) = match channel {
        Channel::Email => ("email address", "email"),
        Channel::Sms => ("mobile number", "mobile"),
    };
    let why = if reason == "complained" { "its owner marked our message as spam" } else { "it bounced" };
    ApiError::field(
        ErrorCode::NoDestination,
        "type",
        format!(
            "The customer's {what} cannot be sent to: {why}. Update the customer's {field} (or send by the other \
             channel)."
        ),
    )
}

/// Consumes the code `check` accepted (stored as `otp_hash`) with `effect`, in one write, then
/// counts and records its use with the reset's own event (`reset`). A code used or replaced
/// since the check answers `invalid_otp`.
pub async fn consume(
    app: &App,
    customer: &Customer,
    purpose: OtpPurpose,
    otp_hash: &str,
    effect: OtpEffect,
    reset: EventKind,
) -> Result<(), ApiError> {
    let store = app.store()?;
    let now = app.clock.now();
    if !store.consume_otp(customer.merchant_id, customer.id, purpose, otp_hash, now, effect).await? {
        metrics::count(Metric::OtpRejected);
        return Err(otp::OtpError::Invalid.into());
    }
    used(app, customer, purpose, reset).await;
    Ok(())
}

/// A code consumed by a reset: counts it and records `otp_used` with the reset's own event
/// (`reset`), in one write.
async fn used(app: &App, customer: &Customer, purpose: OtpPurpose, reset: EventKind) {
    metrics::count(Metric::OtpUsed);
    let mut used = history::event(app, customer.merchant_id, customer.id, EventKind::OtpUsed, history::OK);
    used.purpose = Some(purpose);
    let reset = history::event(app, customer.merchant_id, customer.id, reset, history::OK);
    history::record(app, [used, reset]).await;
}

/// Stores `code` for `customer` if the request limit allows it (one transaction).
pub async fn issue(
    app: &App,
    customer: &Customer,
    purpose: OtpPurpose,
    code: &str,
    expires_at: i64,
    field: &str,
) -> Result<(), ApiError> {
    let record = OtpRecord::issued(&app.hash_key, customer, purpose, code, expires_at);
    let limit_key = keys::otp_requests(customer.merchant_id, customer.id);
    let granted = app.store()?.issue_otp(&record, &limit_key, request_limit(app), app.clock.now()).await?;
    if !granted {
        metrics::count(Metric::OtpLimitHits);
        return Err(ApiError::from_otp(otp::OtpError::LimitExceeded, field));
    }
    metrics::count(Metric::OtpRequested);
    Ok(())
}

/// Publishes `event`. When that fails the answer is 503, and the request's place in the
/// limit is given back; the stored code stays, undelivered, until the client's retry
/// replaces it.
pub async fn publish(app: &App, event: &Event, merchant_id: u64, customer_id: u64) -> Result<(), ApiError> {
    let Err(error) = app.publisher()?.publish(event).await else {
        return Ok(());
    };
    tracing::warn!(%error, event_id = event.event_id(), "could not publish an OTP event");
    let limit_key = keys::otp_requests(merchant_id, customer_id);
    if let Err(release) = app.store()?.release(&limit_key, app.clock.now()).await {
        tracing::warn!(error = %release, "could not give back an OTP request");
    }
    Err(ApiError::service_unavailable())
}

/// Checks `code` against the customer's live code of `purpose`, using one of its tries
/// first (so parallel guesses cannot exceed the tries). Returns the code's hash for the
/// consuming write. Wrong, expired, used and worn-out codes all answer `invalid_otp`.
/// Storage: 1 conditional write.
pub async fn check(
    app: &App,
    merchant_id: u64,
    customer_id: u64,
    purpose: OtpPurpose,
    code: &str,
) -> Result<String, ApiError> {
    if code.len() != otp::OTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(otp::OtpError::Invalid.into());
    }
    check_secret(app, merchant_id, customer_id, purpose, code).await
}

/// `check` for any secret stored the OTP way (also the v2 reset token).
pub async fn check_secret(
    app: &App,
    merchant_id: u64,
    customer_id: u64,
    purpose: OtpPurpose,
    secret: &str,
) -> Result<String, ApiError> {
    let store = app.store()?;
    let now = app.clock.now();
    let Some(record) = store.reserve_otp_try(merchant_id, customer_id, purpose, app.config.otp_max_tries, now).await?
    else {
        // No live code, or its tries are used up: nothing is kept per customer (see `history`).
        metrics::count(Metric::OtpRejected);
        return Err(otp::OtpError::Invalid.into());
    };
    let presented = otp::hash(&app.hash_key, merchant_id, customer_id, purpose, secret);
    if !crate::domain::secrets::secrets_match(&presented, &record.otp_hash) {
        metrics::count(Metric::OtpRejected);
        let mut event = history::event(app, merchant_id, customer_id, EventKind::OtpFailed, "invalid_otp");
        (event.purpose, event.failures) = (Some(purpose), Some(record.tries));
        history::record(app, [event]).await;
        return Err(otp::OtpError::Invalid.into());
    }
    Ok(record.otp_hash)
}
