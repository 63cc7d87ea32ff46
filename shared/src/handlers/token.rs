//! `POST /api/token/` `{token, merchant}`: exchanges a merchant's API key for an access token
//! (docs/api.md section 3.1). Storage: 1 read (the API key's hash).

use serde_json::json;

use crate::app::App;
use crate::error::ApiError;
use crate::http::auth::api_key_merchant;
use crate::http::body::Fields;
use crate::http::{ApiRequest, Reply};
use crate::metrics::{self, Metric};

pub async fn handle(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let api_key = fields.secret("token")?;
    let merchant = fields.positive_integer("merchant")?;
    let key_merchant = api_key_merchant(app, api_key.trim()).await?;
    // A key of another merchant is the same failure as a wrong key.
    if key_merchant != merchant {
        return Err(ApiError::authentication_failed());
    }
    metrics::count(Metric::TokensIssued);
    let token = app.jwt.issue(merchant, app.clock.now(), app.config.jwt_ttl_secs, &crate::random::OsRandom).map_err(
        |error| {
            tracing::error!(%error, "could not issue an access token");
            ApiError::internal()
        },
    )?;
    Ok(Reply::secret(json!({"access_token": token})))
}
