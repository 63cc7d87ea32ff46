//! `POST /api/token/verify/` `{access_token}` (also `accesstoken`, `token`): `200 {}` when the
//! token is a valid access token, else `401 token_not_valid` (docs/api.md section 3.2). No storage, no
//! merchant credentials.

use serde_json::{Value, json};

use crate::app::App;
use crate::error::ApiError;
use crate::http::body::Fields;
use crate::http::{ApiRequest, Reply};

const TOKEN_FIELDS: [&str; 3] = ["access_token", "accesstoken", "token"];

pub async fn handle(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let token = match fields.first_of(&TOKEN_FIELDS) {
        None => return Err(ApiError::required("access_token")),
        Some((_, Value::String(token))) => token.trim().to_string(),
        Some(_) => {
            crate::metrics::count(crate::metrics::Metric::TokensRefused);
            return Err(ApiError::token_not_valid());
        }
    };
    match app.jwt.verify(&token, app.clock.now()) {
        Ok(_) => Ok(Reply::ok(json!({}))),
        Err(reason) => {
            crate::metrics::count(crate::metrics::Metric::TokensRefused);
            tracing::info!(%reason, "access token refused");
            Err(ApiError::token_not_valid())
        }
    }
}
