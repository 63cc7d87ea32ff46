//! The mobile app API v2 (docs/api.md section 7): login, register, forgot and reset password, logout.
//!
//! Its customers are ordinary customers of the merchant named by `STAMPS_V2_MERCHANT`, so the
//! merchant's PIN and password routes work on them too. No merchant credentials: the app
//! signs in with the customer's email and password (or a Facebook token) and gets a key, 160
//! random bits shown once and stored only as a keyed hash. Password checks go through the
//! same throttle as the merchant routes. Errors are `{"status": 0, "error": "..."}` with a
//! real HTTP status (the route table gives these routes the V2 error style).
//!
//! These routes answer anyone, so each client network (the source IP; IPv6 by /64) has
//! windows of its own *(config)*: failed logins, registrations and reset requests
//! (`PerNetwork`), counted by conditional writes like every other limit.
//!
//! `forgot_password` does the same work for every email: it checks the input and the
//! network's window and publishes the email asked about; the dispatcher looks it up and, for a
//! customer, issues and sends the token (`delivery::reset_link`). Doing the lookup here and
//! dummy work for unknown emails was the alternative; it would have to mirror every call of
//! the known path (reads, a transaction, a publish) for ever, and still answers 503 or 200
//! differently the day one of them fails. Publishing the request is identical by construction.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::App;
use crate::delivery::ResetLinkRequested;
use crate::domain::identifier::{looks_like_email, normalize_email};
use crate::domain::mobile::parse_mobile;
use crate::domain::name::{BadName, MAX_NAME_CHARS, check_name};
use crate::domain::network::network_hash;
use crate::domain::otp::OtpPurpose;
use crate::domain::policy;
use crate::domain::secrets::Purpose;
use crate::error::{ApiError, ErrorCode};
use crate::facebook::{FacebookError, FacebookUser};
use crate::handlers::otp;
use crate::handlers::password::{self, CheckFailure};
use crate::history;
use crate::http::body::Fields;
use crate::http::{ApiRequest, Reply};
use crate::metrics::{self, Metric};
use crate::random::random_hex;
use crate::store::layout::CounterKind;
use crate::store::{
    AppKey, CounterPolicy, Customer, EventKind, NewCustomer, OtpEffect, Profile, StoreError, UniqueField, keys,
};

pub use crate::delivery::reset_link::{RESET_TEMPLATE, RESET_TOKEN_TTL_SECS, ResetLinks};

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

/// The one answer to every reset that has not verified its token.
fn invalid_reset_token() -> ApiError {
    ApiError::field(ErrorCode::InvalidOtp, "token", "Your reset token is invalid or has expired.")
}

fn too_many_from_network() -> ApiError {
    ApiError::new(ErrorCode::TooManyAttempts, "Too many requests from your network. Try again later.")
}

/// What a client network may do in a window of its own.
#[derive(Debug, Clone, Copy)]
enum PerNetwork {
    /// Failed logins: taken before the check, given back by a success.
    LoginFailures,
    Registrations,
    ResetRequests,
}

impl PerNetwork {
    fn limit(self, app: &App) -> CounterPolicy {
        match self {
            PerNetwork::LoginFailures => app.config.v2_ip_login_failures,
            PerNetwork::Registrations => app.config.v2_ip_registrations,
            PerNetwork::ResetRequests => app.config.v2_ip_reset_requests,
        }
        .into()
    }

    fn kind(self) -> CounterKind {
        match self {
            PerNetwork::LoginFailures => CounterKind::NetworkLoginFailures,
            PerNetwork::Registrations => CounterKind::NetworkRegistrations,
            PerNetwork::ResetRequests => CounterKind::NetworkResetRequests,
        }
    }

    fn name(self) -> &'static str {
        match self {
            PerNetwork::LoginFailures => "login-failures",
            PerNetwork::Registrations => "registrations",
            PerNetwork::ResetRequests => "reset-requests",
        }
    }
}

/// A place taken in a network's window (by a conditional write), to keep or give back.
struct NetworkPlace {
    key: String,
}

impl NetworkPlace {
    /// Takes a place in `what`'s window for the network of `source`, or answers 429. The
    /// counter is kept under a keyed hash of the network: the store holds no address.
    async fn take(app: &App, what: PerNetwork, source: Option<IpAddr>) -> Result<NetworkPlace, ApiError> {
        let key = keys::source_network(what.kind(), &network_hash(&app.hash_key, source));
        if !app.store()?.reserve(&key, what.limit(app), app.clock.now()).await?.granted {
            tracing::info!(window = what.name(), "a client network reached its window");
            if matches!(what, PerNetwork::LoginFailures) {
                metrics::count(Metric::PasswordThrottles);
            }
            return Err(too_many_from_network());
        }
        Ok(NetworkPlace { key })
    }

    /// Gives the place back (a success, or a request that was not really tried).
    async fn give_back(self, app: &App) {
        let released = match app.store() {
            Ok(store) => store.release(&self.key, app.clock.now()).await,
            Err(_) => return,
        };
        if let Err(error) = released {
            tracing::warn!(%error, "could not give back a place in a network's window");
        }
    }
}

/// Whether a failed request spent its place: a refused credential did; bad input and an
/// unavailable service did not try anything.
fn spends_a_place(error: &ApiError) -> bool {
    matches!(error.code, ErrorCode::AuthenticationFailed | ErrorCode::TooManyAttempts)
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

/// A fresh key for the app (shown once) and the record that stores its hash, in the key
/// generation the customer was read in (`Customer::key_generation`; 0 for a new customer).
/// Public for the benchmark, which makes logout keys without a login.
pub fn new_key(
    app: &App,
    merchant_id: u64,
    customer_id: u64,
    gcm_id: Option<String>,
    generation: u32,
) -> Result<(String, AppKey), ApiError> {
    let key = random_hex::<20>()?;
    let record = AppKey {
        key_hash: key_hash(app, &key),
        merchant_id,
        customer_id,
        gcm_id,
        created_at: app.clock.now(),
        generation,
    };
    Ok((key, record))
}

fn key_reply(key: &str) -> Reply {
    Reply::secret(json!({"status": 1, "key": key}))
}

/// Who the Facebook token belongs to, according to the Graph API.
async fn facebook_user(app: &App, token: &str) -> Result<FacebookUser, ApiError> {
    let facebook = app.facebook.as_deref().ok_or_else(|| {
        tracing::error!("a Facebook token was sent but no Facebook app is configured (STAMPS_FACEBOOK_APP_ID)");
        ApiError::new(ErrorCode::ServiceUnavailable, "Facebook sign-in is not configured on this server.")
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

/// How a login names its customer.
enum Credentials {
    Password { email: String, password: String },
    Facebook { token: String, uid: String },
}

/// `POST /api/v2/auth/login` `{email, password}` or `{fb_token, fb_uid}`, `gcm_id?`: a new key.
/// The check takes a place in the network's window of failed logins first; a success gives it
/// back. Storage (email): 1 write (the network's place), 2 reads (the same for an unknown
/// email), the password check (1 call; 2 on success), then 1 write (the place back),
/// 1 transaction (the key, while the customer's keys are of the generation read) and 1 write
/// (the history event).
pub async fn login(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = merchant(app)?;
    let gcm_id = optional_text(&fields, "gcm_id")?;
    let by_facebook = !fields.has("email") && (fields.has("fb_token") || fields.has("fb_uid"));
    let credentials = if by_facebook {
        Credentials::Facebook { token: secret(&fields, "fb_token")?, uid: text(&fields, "fb_uid")? }
    } else {
        Credentials::Password {
            email: normalize_email(&text(&fields, "email")?),
            password: secret(&fields, "password")?,
        }
    };
    let place = NetworkPlace::take(app, PerNetwork::LoginFailures, request.source_ip).await?;
    let checked = match &credentials {
        Credentials::Facebook { token, uid } => facebook_login(app, merchant_id, token, uid).await,
        Credentials::Password { email, password } => password_login(app, merchant_id, email, password).await,
    };
    let customer = match checked {
        Ok(customer) => customer,
        Err(error) => {
            if !spends_a_place(&error) {
                place.give_back(app).await;
            }
            return Err(error);
        }
    };
    place.give_back(app).await;
    let (key, record) = new_key(app, merchant_id, customer.id, gcm_id, customer.key_generation)?;
    if !app.store()?.put_app_key(&record).await? {
        // A reset through the emailed token revoked the keys after the check: what was
        // checked no longer signs in.
        return Err(match credentials {
            Credentials::Password { .. } => wrong_password(),
            Credentials::Facebook { .. } => facebook_not_registered(),
        });
    }
    let outcome = if by_facebook { "facebook" } else { history::OK };
    history::record(app, [history::event(app, merchant_id, customer.id, EventKind::V2Login, outcome)]).await;
    tracing::info!(merchant = merchant_id, customer = customer.id, by_facebook, "v2 login");
    Ok(key_reply(&key))
}

fn facebook_not_registered() -> ApiError {
    ApiError::field(ErrorCode::AuthenticationFailed, "fb_uid", "This Facebook account is not registered.")
}

async fn password_login(app: &App, merchant_id: u64, email: &str, password: &str) -> Result<Customer, ApiError> {
    // The same calls whether or not the email is a customer's.
    let Some(customer) = app.store()?.customer_by_evenly(merchant_id, UniqueField::Email, email).await? else {
        // An unknown email costs what a wrong password costs, is throttled alike, and
        // answers the same.
        password::unknown_identifier_failure(app, merchant_id, email, password).await?;
        return Err(wrong_password());
    };
    password::check(app, &customer, password, None).await.map_err(|failure| match failure {
        CheckFailure::WrongPassword | CheckFailure::NotSet => wrong_password(),
        CheckFailure::Throttled => password::too_many_attempts(),
        CheckFailure::Other(error) => error,
    })?;
    Ok(customer)
}

async fn facebook_login(app: &App, merchant_id: u64, token: &str, uid: &str) -> Result<Customer, ApiError> {
    let user = facebook_user(app, token).await?;
    if user.id != uid {
        return Err(ApiError::field(
            ErrorCode::AuthenticationFailed,
            "fb_uid",
            "Your Facebook token does not belong to this user.",
        ));
    }
    app.store()?.customer_by(merchant_id, UniqueField::FacebookId, uid).await?.ok_or_else(facebook_not_registered)
}

/// `POST /api/v2/auth/register` `{email, password, name, id_location, phone?, gcm_id?,
/// longitude?, latitude?, avatar?, fb_token?}` (`show_phone`, `address` ignored): creates the
/// customer and its first key in one transaction, so a taken email, phone or Facebook account
/// (409) leaves nothing behind. A valid request takes a place in the network's window of
/// registrations before any costly work (Facebook, the password hash), and keeps it unless the
/// service failed. Storage: 1 write (the network's place), 1 read (the merchant), 1 transaction.
pub async fn register(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = merchant(app)?;
    let email = normalize_email(&text(&fields, "email")?);
    let password = secret(&fields, "password")?;
    let name = text(&fields, "name")?;
    check_name(&name).map_err(|bad| match bad {
        BadName::TooLong => invalid("name", &format!("must be at most {MAX_NAME_CHARS} characters")),
        BadName::ControlCharacter => invalid("name", "must not contain control characters"),
    })?;
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
    let facebook_token = match fields.has("fb_token") {
        true => Some(secret(&fields, "fb_token")?),
        false => None,
    };
    let new = NewCustomer {
        merchant_id,
        name,
        email: Some(email),
        mobile,
        profile,
        created_at: app.clock.now(),
        ..NewCustomer::default()
    };
    let place = NetworkPlace::take(app, PerNetwork::Registrations, request.source_ip).await?;
    let created = create(app, new, password, facebook_token, gcm_id).await;
    if created.as_ref().is_err_and(|error| error.status().is_server_error()) {
        place.give_back(app).await;
    }
    created
}

/// The costly part of `register`, once its input is valid and its network has a place: the
/// Facebook check, the password hash, the customer and its key.
async fn create(
    app: &App,
    mut new: NewCustomer,
    password: String,
    facebook_token: Option<String>,
    gcm_id: Option<String>,
) -> Result<Reply, ApiError> {
    let merchant_id = new.merchant_id;
    new.facebook_id = match facebook_token {
        Some(token) => Some(facebook_user(app, &token).await?.id),
        None => None,
    };
    let store = app.store()?;
    if store.merchant(merchant_id).await?.is_none() {
        tracing::error!(merchant = merchant_id, "STAMPS_V2_MERCHANT names a merchant that does not exist");
        return Err(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The mobile app API is not configured on this server.",
        ));
    }
    new.password_hash = Some(app.hasher.hash_blocking(password).await?);
    // The key's customer ID (0 here) is filled in by the store once it has allocated one.
    let (key, record) = new_key(app, merchant_id, 0, gcm_id, 0)?;
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
/// known, after the same work: the network's window, then one published event naming the
/// email. The dispatcher emails a known customer a single-use token valid one hour, within the
/// customer's own limit of reset emails (never the merchant's OTP request limit); a request
/// past that limit sends nothing and leaves the link emailed before working. With SNS down the
/// answer is 503 for every email. Storage: 1 write (the network's place; given back when the
/// event cannot be published).
pub async fn forgot_password(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = merchant(app)?;
    let email = normalize_email(&text(&fields, "email")?);
    if !looks_like_email(&email) {
        return Err(invalid("email", "is not a valid email address"));
    }
    // Fail before anything is counted when the email could not be sent.
    let publisher = app.publisher()?;
    let place = NetworkPlace::take(app, PerNetwork::ResetRequests, request.source_ip).await?;
    let event = ResetLinkRequested::new(merchant_id, email, app.clock.now())?;
    if let Err(error) = publisher.publish(&event.into()).await {
        tracing::warn!(%error, "could not publish a reset link request");
        place.give_back(app).await;
        return Err(ApiError::service_unavailable());
    }
    Ok(Reply::ok(json!({"status": 1, "message": FORGOT_PASSWORD_ANSWER})))
}

/// `POST /api/v2/auth/reset_password` `{token, password}`: consumes the token and sets the
/// password in one transaction. The token proves the email, so the same transaction marks the
/// email proven, revokes every app key of the customer, and unlinks a Facebook account that
/// was linked before the email was ever proven (whoever registered first may not own it).
///
/// The token is verified first: a try of the customer's live token is reserved by a
/// conditional write (as the OTP checks do) before its hash is compared. Until then every
/// failure (malformed token, unknown customer, no live token, wrong secret, tries used up)
/// gets one and the same answer, and the password is not looked at, so neither the
/// customer's existence nor its email can be probed. After it, the password policy speaks: a
/// weak password keeps the token alive but has spent its try, so a token's holder gets
/// `STAMPS_OTP_MAX_TRIES` attempts in all, and a guesser gains nothing by sending weak
/// passwords (each guess of a secret costs a try whatever the password). Storage: 1
/// conditional write (a try), 1 read (the customer), 1 transaction.
pub async fn reset_password(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = merchant(app)?;
    let token = secret(&fields, "token")?;
    let password = secret(&fields, "password")?;
    let customer_id = ResetLinks::customer_of(&token).ok_or_else(invalid_reset_token)?;
    let purpose = OtpPurpose::PasswordResetLink;
    let token_hash = otp::check_secret(app, merchant_id, customer_id, purpose, &token)
        .await
        .map_err(|error| if error.code == ErrorCode::InvalidOtp { invalid_reset_token() } else { error })?;
    // Verified: from here on the answers may be specific.
    let store = app.store()?;
    let customer = store.customer(merchant_id, customer_id).await?.ok_or_else(invalid_reset_token)?;
    policy::check_new_password(&password, customer.email.as_deref())
        .map_err(|weakness| ApiError::field(ErrorCode::WeakPassword, "password", weakness.message()))?;
    let password_hash = app.hasher.hash_blocking(password).await?;
    // Facebook can only be linked at creation, before any proof: while the email was never
    // proven, a link predates the proof.
    let unlink_facebook = customer.email_proven_at.is_none().then(|| customer.facebook_id.clone()).flatten();
    let unlinked = unlink_facebook.is_some();
    let effect = OtpEffect::ResetByEmail { password_hash, unlink_facebook };
    otp::consume(app, &customer, purpose, &token_hash, effect, EventKind::PasswordReset)
        .await
        .map_err(|error| if error.code == ErrorCode::InvalidOtp { invalid_reset_token() } else { error })?;
    tracing::info!(merchant = merchant_id, customer = customer_id, unlinked_facebook = unlinked, "v2 password reset");
    Ok(Reply::ok(json!({"status": 1, "message": "Password has been reset."})))
}

/// `POST /api/v2/auth/logout` `{key}`: revokes that one key. Storage: 1 delete (which answers
/// whose key it was), 1 write (the history event).
pub async fn logout(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    merchant(app)?;
    let key = secret(&fields, "key")?;
    if key.len() != 40 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid_key());
    }
    let Some((merchant_id, customer_id)) =
        app.store()?.delete_app_key(&key_hash(app, &key.to_ascii_lowercase())).await?
    else {
        return Err(invalid_key());
    };
    history::record(app, [history::event(app, merchant_id, customer_id, EventKind::V2Logout, history::OK)]).await;
    Ok(Reply::ok(json!({"status": 1})))
}
