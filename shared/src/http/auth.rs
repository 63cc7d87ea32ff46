//! Merchant authentication (docs/api.md section 1.5), tried in order: `Authorization: Bearer <jwt>`,
//! `Authorization: Token <api_key>`, then the legacy `token` body field when there is no
//! `Authorization` header at all.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::app::App;
use crate::domain::secrets::{ApiKey, MAX_API_KEY_BYTES};
use crate::error::ApiError;
use crate::http::body::Fields;

/// The merchant a request acts for.
pub async fn authenticate(app: &App, headers: &HeaderMap, fields: &Fields) -> Result<u64, ApiError> {
    match headers.get(AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| ApiError::authentication_failed())?.trim();
            if value.is_empty() {
                return Err(ApiError::not_authenticated());
            }
            let mut parts = value.split_ascii_whitespace();
            let (scheme, credential) = (parts.next().unwrap_or_default(), parts.next());
            let credential = match (credential, parts.next()) {
                (Some(credential), None) => credential,
                _ => return Err(ApiError::authentication_failed()),
            };
            if scheme.eq_ignore_ascii_case("Bearer") {
                let claims = app.jwt.verify(credential, app.clock.now()).map_err(|reason| {
                    crate::metrics::count(crate::metrics::Metric::TokensRefused);
                    tracing::info!(%reason, "bearer token refused");
                    ApiError::authentication_failed()
                })?;
                Ok(claims.merchant_user_id)
            } else if scheme.eq_ignore_ascii_case("Token") {
                api_key_merchant(app, credential).await
            } else {
                Err(ApiError::authentication_failed())
            }
        }
        None => match fields.value("token") {
            None => Err(ApiError::not_authenticated()),
            Some(serde_json::Value::String(key)) => api_key_merchant(app, key.trim()).await,
            Some(_) => Err(ApiError::authentication_failed()),
        },
    }
}

/// The merchant of an API key: its keyed hash must be on record, not ended (revoked keys are
/// gone, rotated ones end at their expiry). A key of this service's shape must also carry a
/// valid tag for that merchant, checked first so a forged one costs no read; an imported key
/// of the old system (a REST-framework token...) has no tag and is known by its record alone.
/// Storage: 1 read.
pub async fn api_key_merchant(app: &App, api_key: &str) -> Result<u64, ApiError> {
    if api_key.is_empty() || api_key.len() > MAX_API_KEY_BYTES {
        return Err(ApiError::authentication_failed());
    }
    let tagged = match ApiKey::is_tagged(api_key) {
        true => Some(ApiKey::verify(&app.hash_key, api_key).ok_or_else(ApiError::authentication_failed)?),
        false => None,
    };
    let hash = ApiKey::stored_hash(&app.hash_key, api_key);
    let merchant_id = app
        .store()?
        .merchant_id_by_api_key(&hash, app.clock.now())
        .await?
        .ok_or_else(ApiError::authentication_failed)?;
    if tagged.is_some_and(|tagged| tagged != merchant_id) {
        return Err(ApiError::authentication_failed());
    }
    Ok(merchant_id)
}
