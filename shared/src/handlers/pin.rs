//! The PIN routes (docs/api.md section 5). Every route checks formats and confirmations first (a typo
//! never costs an attempt), then the customer, then the PIN under the reserve-first lockout of
//! `domain::pin`.
//!
//! Storage round trips are given per route for a customer named by primary key (a JSON
//! integer); naming by email, mobile or member ID adds one read.

use serde_json::{Value, json};

use crate::App;
use crate::domain::identifier::{Lookup, lookup_plan};
use crate::domain::otp::OtpPurpose;
use crate::domain::password::Verdict;
use crate::domain::pin::{self, PinError};
use crate::error::ApiError;
use crate::handlers::begin;
use crate::handlers::otp::{self, TypeField};
use crate::handlers::{customer, password};
use crate::history;
use crate::http::body::Fields;
use crate::http::{ApiRequest, Reply};
use crate::metrics::{self, Metric};
use crate::store::{CounterPolicy, EventKind, OtpEffect, PinAttempt, PinCondition, Window};

fn pin_field(fields: &Fields, name: &str) -> Result<String, ApiError> {
    let value = fields.value(name).ok_or_else(|| ApiError::required(name))?;
    pin::check_format(value).map_err(|error| ApiError::from_pin(error, name, true))
}

/// `confirm` repeats `pin`, or the error names `confirm_field`.
fn confirmed(pin: &str, confirm: &str, confirm_field: &str) -> Result<(), ApiError> {
    pin::check_confirmation(pin, confirm).map_err(|error| ApiError::from_pin(error, confirm_field, true))
}

fn lockout(app: &App) -> CounterPolicy {
    CounterPolicy {
        limit: app.config.pin_max_failures,
        window_secs: app.config.pin_failure_reset_secs,
        window: Window::Sliding,
    }
}

/// The customer's ID. A JSON integer is taken as the primary key without a read, because the
/// PIN record is keyed by it; `checked` says whether the customer is known to exist.
async fn customer_id(app: &App, merchant_id: u64, fields: &Fields) -> Result<(u64, bool), ApiError> {
    if let Some(value @ Value::Number(_)) = fields.value("user")
        && let Ok(plan) = lookup_plan(value, app.config.default_region)
        && let [Lookup::Id(id)] = plan.as_slice()
    {
        return Ok((*id, false));
    }
    let customer = customer::resolve(app, merchant_id, fields, "user").await?;
    Ok((customer.id, true))
}

/// No PIN record: the customer either does not exist (for this merchant) or has no PIN.
async fn no_pin(app: &App, merchant_id: u64, customer_id: u64, checked: bool) -> ApiError {
    if checked {
        return ApiError::from_pin(PinError::NotSet, "user", true);
    }
    match app.store().map(|store| store.customer(merchant_id, customer_id)) {
        Ok(lookup) => match lookup.await {
            Ok(Some(_)) => ApiError::from_pin(PinError::NotSet, "user", true),
            Ok(None) => ApiError::invalid_user("user"),
            Err(error) => error.into(),
        },
        Err(error) => error,
    }
}

/// Reserves an attempt and checks `pin` (the reserve-first lockout). On a right PIN the
/// failures return to zero, `success` (if any) is recorded in the history in parallel with that
/// write, and a hash with old parameters is refreshed. A wrong PIN is recorded as a failure, or
/// as the block when it uses the last attempt.
#[allow(clippy::too_many_arguments)]
async fn check_pin(
    app: &App,
    merchant_id: u64,
    customer_id: u64,
    checked: bool,
    pin: &str,
    field: &str,
    with_attempts_left: bool,
    success: Option<EventKind>,
) -> Result<String, ApiError> {
    let store = app.store()?;
    let policy = lockout(app);
    let (pin_hash, count) = match store.reserve_pin_attempt(merchant_id, customer_id, policy, app.clock.now()).await? {
        PinAttempt::NoPin => return Err(no_pin(app, merchant_id, customer_id, checked).await),
        PinAttempt::Blocked => return Err(ApiError::from_pin(PinError::Blocked, field, true)),
        PinAttempt::Granted { pin_hash, count } => (pin_hash, count),
    };
    let verdict = app.hasher.verify_blocking(pin.to_string(), Some(pin_hash.clone())).await?;
    if !verdict.matched() {
        let error = ApiError::from_pin(pin::wrong_pin(count, policy.limit), field, with_attempts_left);
        metrics::count(Metric::PinFailures);
        let kind = if count >= policy.limit {
            metrics::count(Metric::PinBlocks);
            EventKind::PinBlocked
        } else {
            EventKind::PinFailed
        };
        let mut event = history::event(app, merchant_id, customer_id, kind, error.code.as_str());
        event.failures = Some(count);
        history::record(app, [event]).await;
        return Err(error);
    }
    let success = success.map(|kind| history::event(app, merchant_id, customer_id, kind, history::OK));
    let (cleared, ()) = tokio::join!(store.clear_pin_failures(merchant_id, customer_id), history::record(app, success));
    cleared?;
    if verdict == Verdict::MatchNeedsRehash {
        let fresh = app.hasher.hash_blocking(pin.to_string()).await?;
        store.put_pin(merchant_id, customer_id, &fresh, PinCondition::Current(&pin_hash)).await?;
    }
    Ok(pin_hash)
}

/// `POST /api/pin/validate` `{user, pin}`. Storage: 2 calls in sequence on success (reserve
/// the attempt and read the hash in one conditional write; then give it back and record the
/// event, in parallel), 2 on a wrong PIN (the reserve, the event), 1 while blocked, 2 when no
/// PIN is set.
pub async fn validate(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("user") {
        return Err(ApiError::required("user"));
    }
    let pin = pin_field(&fields, "pin")?;
    let (customer_id, checked) = customer_id(app, merchant_id, &fields).await?;
    check_pin(app, merchant_id, customer_id, checked, &pin, "pin", true, Some(EventKind::PinValidated)).await?;
    Ok(Reply::status_ok())
}

/// `POST /api/pin/set` `{user, pin, confirm_pin}`: first time only. Storage: 3 calls (read the
/// customer, conditional write, the event).
pub async fn set(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("user") {
        return Err(ApiError::required("user"));
    }
    let new_pin = pin_field(&fields, "pin")?;
    let confirm = pin_field(&fields, "confirm_pin")?;
    confirmed(&new_pin, &confirm, "confirm_pin")?;
    let customer = customer::resolve(app, merchant_id, &fields, "user").await?;
    let hash = app.hasher.hash_blocking(new_pin).await?;
    let written = app.store()?.put_pin(merchant_id, customer.id, &hash, PinCondition::Unset).await?;
    if !written {
        return Err(ApiError::from_pin(PinError::AlreadySet, "pin", true));
    }
    history::record(app, [history::event(app, merchant_id, customer.id, EventKind::PinSet, history::OK)]).await;
    Ok(Reply::status_ok())
}

/// `POST /api/pin/change` `{user, current_pin, new_pin, confirm_new_pin}`. A wrong current PIN
/// counts as a failure. Storage: 4 calls on success (reserve, give back, conditional write of
/// the new PIN, the event), 2 on a wrong PIN.
pub async fn change(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("user") {
        return Err(ApiError::required("user"));
    }
    let current = pin_field(&fields, "current_pin")?;
    let new_pin = pin_field(&fields, "new_pin")?;
    let confirm = pin_field(&fields, "confirm_new_pin")?;
    confirmed(&new_pin, &confirm, "confirm_new_pin")?;
    let (customer_id, checked) = customer_id(app, merchant_id, &fields).await?;
    let old_hash = check_pin(app, merchant_id, customer_id, checked, &current, "current_pin", false, None).await?;
    let hash = app.hasher.hash_blocking(new_pin).await?;
    let written = app.store()?.put_pin(merchant_id, customer_id, &hash, PinCondition::Current(&old_hash)).await?;
    if !written {
        // Another change or reset landed between the check and this write: it wins.
        return Err(ApiError::from_pin(pin::wrong_pin(0, u32::MAX), "current_pin", false));
    }
    history::record(app, [history::event(app, merchant_id, customer_id, EventKind::PinChanged, history::OK)]).await;
    Ok(Reply::status_ok())
}

/// `POST /api/pin/unblock` `{user}`: failures back to zero (also when not blocked). Storage:
/// 2 calls in sequence (read the customer; clear and record the event, in parallel).
pub async fn unblock(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    let customer = customer::resolve(app, merchant_id, &fields, "user").await?;
    clear_block(app, merchant_id, customer.id).await?;
    Ok(Reply::status_ok())
}

/// Failures back to zero and the `pin_unblocked` event, in parallel: the unblock of this route
/// and of the support console.
pub async fn clear_block(app: &App, merchant_id: u64, customer_id: u64) -> Result<(), ApiError> {
    let event = history::event(app, merchant_id, customer_id, EventKind::PinUnblocked, history::OK);
    let (cleared, ()) =
        tokio::join!(app.store()?.clear_pin_failures(merchant_id, customer_id), history::record(app, [event]));
    cleared?;
    Ok(())
}

/// `POST /api/pin/request-otp-for-reset` `{user, type?, template_code?}`: a new code, always
/// returned in the body. Storage: 3 calls (read the customer, count the request, store the
/// code).
pub async fn request_otp_for_reset(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    otp::request(app, merchant_id, &fields, "user", OtpPurpose::PinReset, TypeField::Optional).await
}

/// `POST /api/pin/reset` `{user, otp, pin, confirm_pin}`: consumes the code, sets the PIN and
/// clears the failures in one atomic write. Storage: 4 calls (read the customer, use a try of
/// the code, the transaction, the events).
pub async fn reset(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("user") {
        return Err(ApiError::required("user"));
    }
    let code = fields.secret("otp")?;
    let new_pin = pin_field(&fields, "pin")?;
    let confirm = pin_field(&fields, "confirm_pin")?;
    confirmed(&new_pin, &confirm, "confirm_pin")?;
    let customer = customer::resolve(app, merchant_id, &fields, "user").await?;
    let otp_hash = otp::check(app, merchant_id, customer.id, OtpPurpose::PinReset, &code).await?;
    let effect = OtpEffect::SetPin(app.hasher.hash_blocking(new_pin).await?);
    otp::consume(app, &customer, OtpPurpose::PinReset, &otp_hash, effect, EventKind::PinReset).await?;
    Ok(Reply::status_ok())
}

/// `POST /api/pin/reset-with-password` `{user, password, pin, confirm_pin}`: sets the PIN and
/// clears the failures after a password check (which counts against the password throttle).
/// Storage: 5 calls (read the customer, reserve a password attempt, give it back, write, the
/// event).
pub async fn reset_with_password(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("user") {
        return Err(ApiError::required("user"));
    }
    let password = fields.secret("password")?;
    let new_pin = pin_field(&fields, "pin")?;
    let confirm = pin_field(&fields, "confirm_pin")?;
    confirmed(&new_pin, &confirm, "confirm_pin")?;
    let customer = password::resolve_timed(app, merchant_id, &fields, "user", &password).await?;
    password::check(app, &customer, &password, None).await.map_err(|failure| failure.into_api("password"))?;
    let hash = app.hasher.hash_blocking(new_pin).await?;
    app.store()?.put_pin(merchant_id, customer.id, &hash, PinCondition::Any).await?;
    history::record(app, [history::event(app, merchant_id, customer.id, EventKind::PinReset, history::OK)]).await;
    Ok(Reply::ok(json!({"status": "ok"})))
}
