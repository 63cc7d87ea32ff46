//! The mobile app API v2 (docs/api.md section 7): login, register, forgot and reset password, logout.
//!
//! Its customers are ordinary customers of the merchant named by `STAMPS_V2_MERCHANT`, so the
//! merchant's PIN and password routes work on them too. No merchant credentials: the app
//! signs in with the customer's email and password (or a Facebook token) and gets a key, 160
//! random bits shown once and stored only as a keyed hash. Password checks go through the
//! same throttle as the merchant routes. Errors are `{"status": 0, "error": "..."}` with a
//! real HTTP status (the route table gives these routes the V2 error style).

use serde_json::{Value, json};

use crate::App;
use crate::delivery::{Channel, OtpDelivery, OtpRequested};
use crate::domain::identifier::{looks_like_email, normalize_email};
use crate::domain::mobile::parse_mobile;
use crate::domain::otp::OtpPurpose;
use crate::domain::policy;
use crate::domain::secrets::{Purpose, random_hex};
use crate::error::{ApiError, ErrorCode};
use crate::facebook::{FacebookError, FacebookUser};
use crate::handlers::otp;
use crate::handlers::password::{self, CheckFailure};
use crate::history;
use crate::http::body::Fields;
use crate::http::{ApiRequest, Reply};
use crate::store::{AppKey, Customer, EventKind, NewCustomer, OtpEffect, Profile, StoreError, UniqueField};

/// A reset token from the `forgot_password` email works for one hour.
pub const RESET_TOKEN_TTL_SECS: i64 = 3_600;
/// The built-in template of the reset email (a merchant may store its own under this code).
pub const RESET_TEMPLATE: &str = "forgot_password";

const FORGOT_PASSWORD_ANSWER: &str = "Profile detail and reset password has been sent to your email.";

fn missing(name: &str) -> ApiError {
    ApiError::field(ErrorCode::Required, name, format!("Your parameter is not complete. Missing parameter '{name}'."))
}

fn invalid(name: &str, why: &str) -> ApiError {
    ApiError::field(ErrorCode::Invalid, name, format!("Your parameter '{name}' {why}."))
}

fn wrong_password() -> ApiError {
    ApiError::field(ErrorCode::AuthenticationFailed, "password", "Your password is invalid.")
}

fn invalid_key() -> ApiError {
    ApiError::field(ErrorCode::AuthenticationFailed, "key", "Your key is invalid.")
}

fn invalid_reset_token() -> ApiError {
    ApiError::field(ErrorCode::InvalidOtp, "token", "Your reset token is invalid or has expired.")
}

/// Turns the generic field errors of `Fields` into the v2 wording.
fn reworded(name: &str) -> impl Fn(ApiError) -> ApiError + '_ {
    move |error| match error.code {
        ErrorCode::Required => missing(name),
        _ => invalid(name, "must be text"),
    }
}

/// A required text parameter, trimmed.
fn text(fields: &Fields, name: &str) -> Result<String, ApiError> {
    fields.text(name).map_err(reworded(name))
}

fn optional_text(fields: &Fields, name: &str) -> Result<Option<String>, ApiError> {
    fields.optional_text(name).map_err(reworded(name))
}

/// A required secret (password, token, key), exactly as sent.
fn secret(fields: &Fields, name: &str) -> Result<String, ApiError> {
    fields.secret(name).map_err(reworded(name))
}

/// An optional coordinate: a JSON number or a numeric string within `-limit..=limit`.
fn coordinate(fields: &Fields, name: &str, limit: f64) -> Result<Option<f64>, ApiError> {
    let number = match fields.value(name) {
        None => return Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(None),
        Some(Value::String(text)) => text.trim().parse::<f64>().ok(),
        Some(Value::Number(number)) => number.as_f64(),
        Some(_) => None,
    };
    match number {
        Some(value) if value.is_finite() && value.abs() <= limit => Ok(Some(value)),
        _ => Err(invalid(name, &format!("must be a number between -{limit} and {limit}"))),
    }
}

/// The v2 merchant; without one configured the routes cannot serve anyone.
fn merchant(app: &App) -> Result<u64, ApiError> {
    app.config.v2_merchant.ok_or_else(|| {
        tracing::error!("a mobile app API v2 route was called but STAMPS_V2_MERCHANT is not set");
        ApiError::new(ErrorCode::ServiceUnavailable, "The mobile app API is not configured on this server.")
    })
}

fn key_hash(app: &App, key: &str) -> String {
    app.hash_key.hash(Purpose::V2Key, &[key.as_bytes()])
}

/// A fresh key for the app (shown once) and the record that stores its hash. Public for the
/// benchmark, which makes logout keys without a login.
pub fn new_key(
    app: &App,
    merchant_id: u64,
    customer_id: u64,
    gcm_id: Option<String>,
) -> Result<(String, AppKey), ApiError> {
    let key = random_hex::<20>()?;
    let record =
        AppKey { key_hash: key_hash(app, &key), merchant_id, customer_id, gcm_id, created_at: app.clock.now() };
    Ok((key, record))
}

fn key_reply(key: &str) -> Reply {
    Reply::secret(json!({"status": 1, "key": key}))
}

/// Who the Facebook token belongs to, according to the Graph API.
async fn facebook_user(app: &App, token: &str) -> Result<FacebookUser, ApiError> {
    let facebook = app.facebook.as_deref().ok_or_else(|| {
        tracing::error!("a route that checks Facebook tokens runs without a Graph API client");
        ApiError::service_unavailable()
    })?;
    facebook.verify(token).await.map_err(|error| match error {
        FacebookError::InvalidToken => {
            ApiError::field(ErrorCode::AuthenticationFailed, "fb_token", "Your Facebook token is invalid.")
        }
        FacebookError::Unavailable(cause) => {
            tracing::warn!(%cause, "Facebook Graph API unavailable");
            ApiError::new(ErrorCode::ServiceUnavailable, "Facebook cannot be reached right now. Try again later.")
        }
    })
}

/// `POST /api/v2/auth/login` `{email, password}` or `{fb_token, fb_uid}`, `gcm_id?`: a new key.
/// Storage (email): 1-2 reads, the password check (2 calls on success), 1 write (the key).
pub async fn login(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = merchant(app)?;
    let gcm_id = optional_text(&fields, "gcm_id")?;
    let by_facebook = !fields.has("email") && (fields.has("fb_token") || fields.has("fb_uid"));
    let customer = if by_facebook {
        facebook_login(app, merchant_id, &fields).await?
    } else {
        password_login(app, merchant_id, &fields).await?
    };
    let (key, record) = new_key(app, merchant_id, customer.id, gcm_id)?;
    let outcome = if by_facebook { "facebook" } else { history::OK };
    let event = history::event(app, merchant_id, customer.id, EventKind::V2Login, outcome);
    // The event beside the last write, not after it.
    let (stored, ()) = tokio::join!(app.store()?.put_app_key(&record), history::record(app, [event]));
    stored?;
    tracing::info!(merchant = merchant_id, customer = customer.id, by_facebook, "v2 login");
    Ok(key_reply(&key))
}

async fn password_login(app: &App, merchant_id: u64, fields: &Fields) -> Result<Customer, ApiError> {
    let email = normalize_email(&text(fields, "email")?);
    let password = secret(fields, "password")?;
    let Some(customer) = app.store()?.customer_by(merchant_id, UniqueField::Email, &email).await? else {
        // An unknown email costs what a wrong password costs, is throttled alike, and
        // answers the same.
        password::unknown_identifier_failure(app, merchant_id, &email, &password).await?;
        return Err(wrong_password());
    };
    password::check(app, &customer, &password, None).await.map_err(|failure| match failure {
        CheckFailure::WrongPassword | CheckFailure::NotSet => wrong_password(),
        CheckFailure::Throttled => password::too_many_attempts(),
        CheckFailure::Other(error) => error,
    })?;
    Ok(customer)
}

async fn facebook_login(app: &App, merchant_id: u64, fields: &Fields) -> Result<Customer, ApiError> {
    let token = secret(fields, "fb_token")?;
    let uid = text(fields, "fb_uid")?;
    let user = facebook_user(app, &token).await?;
    if user.id != uid {
        return Err(ApiError::field(
            ErrorCode::AuthenticationFailed,
            "fb_uid",
            "Your Facebook token does not belong to this user.",
        ));
    }
    app.store()?.customer_by(merchant_id, UniqueField::FacebookId, &uid).await?.ok_or_else(|| {
        ApiError::field(ErrorCode::AuthenticationFailed, "fb_uid", "This Facebook account is not registered.")
    })
}

/// `POST /api/v2/auth/register` `{email, password, name, id_location, phone?, gcm_id?,
/// longitude?, latitude?, avatar?, fb_token?}` (`show_phone`, `address` ignored): creates the
/// customer and its first key in one transaction, so a taken email, phone or Facebook account
/// (409) leaves nothing behind. Storage: 1 read (the merchant), 1 transaction.
pub async fn register(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = merchant(app)?;
    let email = normalize_email(&text(&fields, "email")?);
    let password = secret(&fields, "password")?;
    let name = text(&fields, "name")?;
    let location_id = fields.positive_integer("id_location").map_err(|error| match error.code {
        ErrorCode::Required => missing("id_location"),
        _ => invalid("id_location", "must be a positive integer"),
    })?;
    if !looks_like_email(&email) {
        return Err(invalid("email", "is not a valid email address"));
    }
    policy::check_new_password(&password, Some(&email))
        .map_err(|weakness| ApiError::field(ErrorCode::WeakPassword, "password", weakness.message()))?;
    let mobile = match optional_text(&fields, "phone")? {
        None => None,
        Some(phone) => Some(
            parse_mobile(&phone, app.config.default_region)
                .ok_or_else(|| invalid("phone", "is not a valid mobile phone number"))?,
        ),
    };
    let profile = Profile {
        location_id: Some(location_id),
        longitude: coordinate(&fields, "longitude", 180.0)?,
        latitude: coordinate(&fields, "latitude", 90.0)?,
        avatar: optional_text(&fields, "avatar")?,
    };
    let gcm_id = optional_text(&fields, "gcm_id")?;
    let facebook_id = match fields.has("fb_token") {
        true => Some(facebook_user(app, &secret(&fields, "fb_token")?).await?.id),
        false => None,
    };
    let store = app.store()?;
    if store.merchant(merchant_id).await?.is_none() {
        tracing::error!(merchant = merchant_id, "STAMPS_V2_MERCHANT names a merchant that does not exist");
        return Err(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The mobile app API is not configured on this server.",
        ));
    }
    let new = NewCustomer {
        merchant_id,
        name,
        email: Some(email),
        mobile,
        facebook_id,
        password_hash: Some(app.hasher.hash_blocking(password).await?),
        profile,
        created_at: app.clock.now(),
        ..NewCustomer::default()
    };
    // The key's customer ID (0 here) is filled in by the store once it has allocated one.
    let (key, record) = new_key(app, merchant_id, 0, gcm_id)?;
    let customer = store.create_customer(new, Some(&record)).await.map_err(|error| match error {
        StoreError::Duplicate(UniqueField::Email) => conflict("email", "This email is already registered."),
        StoreError::Duplicate(UniqueField::Mobile) => conflict("phone", "This phone number is already registered."),
        StoreError::Duplicate(_) => conflict("fb_token", "This Facebook account is already registered."),
        other => ApiError::from(other),
    })?;
    history::record(app, [history::event(app, merchant_id, customer.id, EventKind::V2Register, history::OK)]).await;
    tracing::info!(merchant = merchant_id, customer = customer.id, "v2 registration");
    Ok(key_reply(&key))
}

fn conflict(field: &str, message: &str) -> ApiError {
    ApiError::field(ErrorCode::Conflict, field, message)
}

/// `POST /api/v2/auth/forgot_password` `{email}`: the same answer whether or not the email is
/// known; a known one gets an email with a single-use token valid one hour, through the OTP
/// delivery path (and its request limit). Storage: 1-2 reads; for a known email also 1
/// transaction (count the request, store the token's hash).
pub async fn forgot_password(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = merchant(app)?;
    let email = normalize_email(&text(&fields, "email")?);
    if !looks_like_email(&email) {
        return Err(invalid("email", "is not a valid email address"));
    }
    // Fail before anything is stored when the email could not be sent.
    app.publisher()?;
    if let Some(customer) = app.store()?.customer_by(merchant_id, UniqueField::Email, &email).await? {
        send_reset_token(app, &customer, email).await?;
    }
    Ok(Reply::ok(json!({"status": 1, "message": FORGOT_PASSWORD_ANSWER})))
}

async fn send_reset_token(app: &App, customer: &Customer, email: String) -> Result<(), ApiError> {
    // The customer ID lets `reset_password` find the record; the 128 random bits are the secret.
    let token = format!("{}.{}", customer.id, random_hex::<16>()?);
    let now = app.clock.now();
    let expires_at = now.saturating_add(RESET_TOKEN_TTL_SECS);
    match otp::issue(app, customer, OtpPurpose::PasswordResetLink, &token, expires_at, "email").await {
        // Over the request limit: no email, and the same answer, so the limit reveals nothing.
        Err(error) if error.code == ErrorCode::OtpLimitExceeded => {
            tracing::info!(merchant = customer.merchant_id, customer = customer.id, "reset email limit reached");
            return Ok(());
        }
        other => other?,
    }
    let event = OtpRequested::new(OtpDelivery {
        merchant_id: customer.merchant_id,
        customer_id: customer.id,
        purpose: OtpPurpose::PasswordResetLink,
        channel: Channel::Email,
        destination: email,
        name: customer.name.clone(),
        template_code: RESET_TEMPLATE.to_string(),
        otp: token,
        expires_at,
        requested_at: now,
    })?;
    otp::publish(app, &event, customer.merchant_id, customer.id).await?;
    let mut requested =
        history::event(app, customer.merchant_id, customer.id, EventKind::OtpRequested, history::OK);
    requested.purpose = Some(OtpPurpose::PasswordResetLink);
    requested.channel = Some(Channel::Email);
    requested.message_id = Some(event.event_id);
    history::record(app, [requested]).await;
    Ok(())
}

/// `POST /api/v2/auth/reset_password` `{token, password}`: consumes the token and sets the
/// password in one transaction (which also kills any other outstanding reset code). Storage:
/// 1 read, 1 conditional write (a try of the token), 1 transaction.
pub async fn reset_password(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = merchant(app)?;
    let token = secret(&fields, "token")?;
    let password = secret(&fields, "password")?;
    let customer_id = token
        .split_once('.')
        .and_then(|(id, _)| id.parse::<u64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(invalid_reset_token)?;
    let store = app.store()?;
    let customer = store.customer(merchant_id, customer_id).await?.ok_or_else(invalid_reset_token)?;
    // A weak password is refused before the token is tried, so it does not cost a try.
    policy::check_new_password(&password, customer.email.as_deref())
        .map_err(|weakness| ApiError::field(ErrorCode::WeakPassword, "password", weakness.message()))?;
    let token_hash = otp::check_secret(app, merchant_id, customer_id, OtpPurpose::PasswordResetLink, &token)
        .await
        .map_err(|error| if error.code == ErrorCode::InvalidOtp { invalid_reset_token() } else { error })?;
    let hash = app.hasher.hash_blocking(password).await?;
    let effect = OtpEffect::SetPassword(hash);
    let now = app.clock.now();
    if !store.consume_otp(merchant_id, customer_id, OtpPurpose::PasswordResetLink, &token_hash, now, effect).await? {
        crate::metrics::count(crate::metrics::Metric::OtpRejected);
        return Err(invalid_reset_token());
    }
    otp::used(app, &customer, OtpPurpose::PasswordResetLink, EventKind::PasswordReset).await;
    Ok(Reply::ok(json!({"status": 1, "message": "Password has been reset."})))
}

/// `POST /api/v2/auth/logout` `{key}`: revokes that one key. Storage: 1 conditional delete.
pub async fn logout(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    merchant(app)?;
    let key = secret(&fields, "key")?;
    if key.len() != 40 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid_key());
    }
    if !app.store()?.delete_app_key(&key_hash(app, &key.to_ascii_lowercase())).await? {
        return Err(invalid_key());
    }
    Ok(Reply::ok(json!({"status": 1})))
}
