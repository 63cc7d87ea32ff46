//! Merchant authentication (docs/api.md section 1.5), tried in order: `Authorization: Bearer <jwt>`,
//! `Authorization: Token <api_key>`, then the legacy `token` body field when there is no
//! `Authorization` header at all.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::app::App;
use crate::domain::secrets::ApiKey;
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

/// The merchant of an API key: its tag must verify and, where there is a store, its hash must
/// be on record for that merchant (so a revoked key stops working).
pub async fn api_key_merchant(app: &App, api_key: &str) -> Result<u64, ApiError> {
    let merchant_id = ApiKey::verify(&app.hash_key, api_key).ok_or_else(ApiError::authentication_failed)?;
    if let Some(store) = &app.store {
        let hash = ApiKey::stored_hash(&app.hash_key, api_key);
        if store.merchant_id_by_api_key(&hash).await? != Some(merchant_id) {
            return Err(ApiError::authentication_failed());
        }
    }
    Ok(merchant_id)
}
