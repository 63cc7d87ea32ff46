//! `POST /api/auth/validate-mobile-number` `{mobile_number}`: the E.164 form of a valid mobile
//! number (docs/api.md section 6.4). Storage: 1 read with an API key (its record: revoked,
//! rotated and imported keys are known only there), none with a Bearer token.

use serde_json::json;

use crate::app::App;
use crate::domain::mobile::parse_mobile;
use crate::error::{ApiError, ErrorCode};
use crate::http::auth::authenticate;
use crate::http::body::Fields;
use crate::http::{ApiRequest, Reply};

pub async fn handle(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    authenticate(app, &request.headers, &fields).await?;
    let text = fields.text("mobile_number")?;
    match parse_mobile(&text, app.config.default_region) {
        Some(e164) => Ok(Reply::ok(json!({"status": "ok", "mobile_number": e164}))),
        None => Err(ApiError::field(
            ErrorCode::InvalidMobileNumber,
            "mobile_number",
            "Please enter a valid mobile phone number.",
        )),
    }
}
