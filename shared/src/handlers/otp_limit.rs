//! `POST /api/auth/reset-otp-limit` `{user}`: clears the customer's OTP request count (docs/api.md
//! section 6.3). Errors carry `"status": "invalid"`. A value that names no customer but is a
//! valid mobile number is fine (there is no count to clear); anything else is
//! `invalid_user` with `Please enter a valid mobile phone number.` Storage: the customer
//! lookup, 1 delete.

use crate::App;
use crate::domain::mobile::parse_mobile;
use crate::error::{ApiError, ErrorCode};
use crate::handlers::customer;
use crate::http::auth::authenticate;
use crate::http::body::Fields;
use crate::http::{ApiRequest, Reply};
use crate::store::keys;

pub async fn handle(app: &App, request: ApiRequest) -> Result<Reply, ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = authenticate(app, &request.headers, &fields).await?;
    match customer::resolve(app, merchant_id, &fields, "user").await {
        Ok(customer) => {
            app.store()?.clear_counter(&keys::otp_requests(merchant_id, customer.id)).await?;
            Ok(Reply::status_ok())
        }
        Err(error) if error.code == ErrorCode::InvalidUser => {
            let is_mobile = fields
                .value("user")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|text| parse_mobile(text, app.config.default_region).is_some());
            if is_mobile {
                Ok(Reply::status_ok())
            } else {
                Err(ApiError::field(ErrorCode::InvalidUser, "user", "Please enter a valid mobile phone number."))
            }
        }
        Err(error) => Err(error),
    }
}
