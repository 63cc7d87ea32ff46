//! The password routes (docs/api.md section 4) and the password check every route shares.
//!
//! The check is throttled reserve-first, like the PIN lockout: before a password is evaluated
//! the check takes one of the customer's `password_max_failures` places in the current window
//! with a conditional write; a right password gives its place back, a wrong one keeps it.
//! However many requests race, no more than the limit are evaluated in one window. An
//! unknown customer costs a dummy hash check, so it takes as long as a wrong password.
//!
//! Storage round trips are given for a customer named by primary key; naming by email,
//! mobile or member ID adds one read (two on DynamoDB: the claim, then the customer).

use serde_json::json;

use crate::App;
use crate::domain::otp::OtpPurpose;
use crate::domain::password::Verdict;
use crate::domain::policy;
use crate::domain::secrets::Purpose;
use crate::error::{ApiError, ErrorCode};
use crate::handlers::begin;
use crate::handlers::customer;
use crate::handlers::otp::{self, TypeField};
use crate::history;
use crate::http::body::Fields;
use crate::http::{ApiRequest, Reply};
use crate::metrics::{self, Metric};
use crate::store::{CounterPolicy, Customer, EventKind, OtpEffect, Window, keys};

pub fn throttle(app: &App) -> CounterPolicy {
    CounterPolicy {
        limit: app.config.password_max_failures,
        window_secs: app.config.password_failure_window_secs,
        window: Window::Fixed,
    }
}

pub fn invalid_password(field: &str) -> ApiError {
    ApiError::field(ErrorCode::InvalidPassword, field, "Invalid user password")
}

pub fn too_many_attempts() -> ApiError {
    ApiError::new(ErrorCode::TooManyAttempts, "Too many failed attempts. Try again later.")
}

fn not_set() -> ApiError {
    ApiError::field(ErrorCode::PasswordNotSet, "user", "Password has not been set.")
}

/// Why a check failed, before it is worded for a route.
#[derive(Debug)]
pub enum CheckFailure {
    WrongPassword,
    NotSet,
    Throttled,
    Other(ApiError),
}

impl From<ApiError> for CheckFailure {
    fn from(error: ApiError) -> CheckFailure {
        CheckFailure::Other(error)
    }
}

impl CheckFailure {
    pub fn into_api(self, field: &str) -> ApiError {
        match self {
            CheckFailure::WrongPassword => invalid_password(field),
            CheckFailure::NotSet => not_set(),
            CheckFailure::Throttled => too_many_attempts(),
            CheckFailure::Other(error) => error,
        }
    }
}

/// The customer `field` names, found by the same calls whether or not it exists. When there
/// is none, the request costs what a wrong password costs — a place taken in a throttle window
/// (kept per identifier) and a dummy hash check —
/// before answering `invalid_user`; and past the limit it is `too_many_attempts`, as for a
/// known customer. Neither time nor the throttle tells whether the customer exists.
pub async fn resolve_timed(
    app: &App,
    merchant_id: u64,
    fields: &Fields,
    field: &str,
    password: &str,
) -> Result<Customer, ApiError> {
    match customer::resolve_evenly(app, merchant_id, fields, field).await {
        Err(error) if error.code == ErrorCode::InvalidUser => {
            // One counter per identifier however it is spelled (emails match without case).
            let identifier = match fields.value(field) {
                Some(serde_json::Value::String(text)) => text.trim().to_lowercase(),
                other => other.map(ToString::to_string).unwrap_or_default(),
            };
            unknown_identifier_failure(app, merchant_id, &identifier, password).await?;
            Err(error)
        }
        other => other,
    }
}

/// Spends on an unknown identifier what `check` spends on a wrong password: a throttle place
/// (never given back) and a hash check. `Err(too_many_attempts)` once the window is full.
pub async fn unknown_identifier_failure(
    app: &App,
    merchant_id: u64,
    identifier: &str,
    password: &str,
) -> Result<(), ApiError> {
    let identifier_hash =
        app.hash_key.hash(Purpose::UnknownIdentifier, &[merchant_id.to_string().as_bytes(), identifier.as_bytes()]);
    let key = keys::unknown_identifier_failures(merchant_id, &identifier_hash);
    let policy = throttle(app);
    let reservation = app.store()?.reserve(&key, policy, app.clock.now()).await?;
    if !reservation.granted {
        metrics::count(Metric::PasswordThrottles);
        return Err(too_many_attempts());
    }
    app.hasher.verify_blocking(password.to_string(), None).await?;
    metrics::count(Metric::PasswordFailures);
    // Recorded as a known customer's wrong password is (`check`), under the merchant's unknown
    // subject and without the identifier: a wrong password makes the same store calls whether
    // the identifier names a customer or not.
    let kind = if reservation.count >= policy.limit { EventKind::PasswordThrottled } else { EventKind::PasswordFailed };
    let mut event = history::event(app, merchant_id, history::UNKNOWN_CUSTOMER, kind, "invalid_password");
    event.failures = Some(reservation.count);
    history::record(app, [event]).await;
    Ok(())
}

/// Checks `password` for `customer` under the throttle. On a right password `success` (if
/// any) is recorded in the history in parallel with giving the place back; a wrong one is
/// recorded as a failure, or as the throttle when it fills the window. A right password stored
/// with weaker parameters (or imported from Django) is rehashed. Storage: 2 calls in sequence
/// on success (take a place; give it back and record the event, in parallel), 2 on a wrong
/// password (the place, the event), 1 while throttled, +1 for a rehash.
pub async fn check(
    app: &App,
    customer: &Customer,
    password: &str,
    success: Option<EventKind>,
) -> Result<(), CheckFailure> {
    let store = app.store()?;
    let now = app.clock.now();
    let key = keys::password_failures(customer.merchant_id, customer.id);
    let policy = throttle(app);
    let reservation = store.reserve(&key, policy, now).await.map_err(ApiError::from)?;
    if !reservation.granted {
        metrics::count(Metric::PasswordThrottles);
        return Err(CheckFailure::Throttled);
    }
    let Some(stored) = customer.password_hash.clone() else {
        // Same cost as a real check (the place taken is kept, like a wrong password's):
        // "no password" must not be quicker to learn.
        app.hasher.verify_blocking(password.to_string(), None).await.map_err(ApiError::from)?;
        return Err(CheckFailure::NotSet);
    };
    let verdict =
        app.hasher.verify_blocking(password.to_string(), Some(stored.clone())).await.map_err(ApiError::from)?;
    if !verdict.matched() {
        metrics::count(Metric::PasswordFailures);
        let kind =
            if reservation.count >= policy.limit { EventKind::PasswordThrottled } else { EventKind::PasswordFailed };
        let mut event = history::event(app, customer.merchant_id, customer.id, kind, "invalid_password");
        event.failures = Some(reservation.count);
        history::record(app, [event]).await;
        return Err(CheckFailure::WrongPassword);
    }
    let success = success.map(|kind| history::event(app, customer.merchant_id, customer.id, kind, history::OK));
    let (released, ()) = tokio::join!(store.release(&key, now), history::record(app, success));
    released.map_err(ApiError::from)?;
    if verdict == Verdict::MatchNeedsRehash {
        let fresh = app.hasher.hash_blocking(password.to_string()).await.map_err(ApiError::from)?;
        // Only while the old hash is still there: a concurrent change must win.
        store.set_password(customer.merchant_id, customer.id, &fresh, Some(&stored)).await.map_err(ApiError::from)?;
        tracing::info!(merchant = customer.merchant_id, customer = customer.id, "password rehashed");
    }
    Ok(())
}

/// A new password must pass the policy of docs/api.md section 4.
pub fn check_policy(password: &str, email: Option<&str>, field: &str) -> Result<(), ApiError> {
    policy::check_new_password(password, email)
        .map_err(|weakness| ApiError::field(ErrorCode::WeakPassword, field, weakness.message()))
}

/// `POST /api/auth/validate-password` `{user, password}`. Storage: 1 read + the check (2 calls
/// in sequence on success, the event written beside the second; 2 on a wrong password).
pub async fn validate(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("user") {
        return Err(ApiError::required("user"));
    }
    let password = fields.secret("password")?;
    let customer = resolve_timed(app, merchant_id, &fields, "user", &password).await?;
    check(app, &customer, &password, Some(EventKind::PasswordValidated))
        .await
        .map_err(|failure| failure.into_api("password"))?;
    Ok(Reply::status_ok())
}

/// `POST /api/auth/change-password` `{user, old_password, new_password}`. Storage: 1 read, the
/// check, 1 transaction (new hash, outstanding reset codes removed).
pub async fn change(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("user") {
        return Err(ApiError::required("user"));
    }
    let old = fields.secret("old_password")?;
    let new = fields.secret("new_password")?;
    let customer = resolve_timed(app, merchant_id, &fields, "user", &old).await?;
    check_policy(&new, customer.email.as_deref(), "new_password")?;
    check(app, &customer, &old, None).await.map_err(|failure| failure.into_api("old_password"))?;
    let hash = app.hasher.hash_blocking(new).await?;
    store_password(app, &customer, &hash).await?;
    history::record(app, [history::event(app, merchant_id, customer.id, EventKind::PasswordChanged, history::OK)])
        .await;
    Ok(Reply::status_ok())
}

/// `POST /api/auth/set-password` `{email, new_password}`: sets the password whatever was
/// there (a merchant-privileged operation). Storage: 1-2 reads, 1 transaction.
pub async fn set(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("email") {
        return Err(ApiError::required("email"));
    }
    let new = fields.secret("new_password")?;
    let customer = customer::resolve(app, merchant_id, &fields, "email").await?;
    check_policy(&new, customer.email.as_deref(), "new_password")?;
    let hash = app.hasher.hash_blocking(new).await?;
    store_password(app, &customer, &hash).await?;
    history::record(app, [history::event(app, merchant_id, customer.id, EventKind::PasswordSet, history::OK)]).await;
    Ok(Reply::ok(json!({"id": customer.id, "name": customer.name, "email": customer.email, "status": "ok"})))
}

async fn store_password(app: &App, customer: &Customer, hash: &str) -> Result<(), ApiError> {
    if !app.store()?.set_password(customer.merchant_id, customer.id, hash, None).await? {
        // The customer vanished between the read and the write.
        return Err(ApiError::invalid_user("user"));
    }
    Ok(())
}

/// `POST /api/auth/request-otp-for-password-reset` `{identifier, type, template_code?}`. See
/// `otp::request` for the storage calls.
pub async fn request_otp_for_reset(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    otp::request(app, merchant_id, &fields, "identifier", OtpPurpose::PasswordReset, TypeField::Required).await
}

/// `POST /api/auth/reset-password-with-otp` `{identifier, otp, new_password,
/// confirm_new_password}`: consumes the code and sets the password in one transaction, which
/// also removes any other outstanding reset code. Storage: 1 read, 1 conditional write (a
/// try of the code), 1 transaction.
pub async fn reset_with_otp(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let (fields, merchant_id) = begin(app, &request).await?;
    if !fields.has("identifier") {
        return Err(ApiError::required("identifier"));
    }
    let code = fields.secret("otp")?;
    let new = fields.secret("new_password")?;
    let confirm = fields.secret("confirm_new_password")?;
    if new != confirm {
        return Err(ApiError::field(
            ErrorCode::MismatchPassword,
            "confirm_new_password",
            "Confirmation password does not match",
        ));
    }
    let customer = customer::resolve(app, merchant_id, &fields, "identifier").await?;
    check_policy(&new, customer.email.as_deref(), "new_password")?;
    let otp_hash = otp::check(app, merchant_id, customer.id, OtpPurpose::PasswordReset, &code).await?;
    let effect = OtpEffect::SetPassword(app.hasher.hash_blocking(new).await?);
    otp::consume(app, &customer, OtpPurpose::PasswordReset, &otp_hash, effect, EventKind::PasswordReset).await?;
    Ok(Reply::status_ok())
}
