//! One module per group of routes. Each route is `async fn(&App, ApiRequest) -> Result<Reply,
//! ApiError>` and documents its storage round trips.

pub mod customer;
pub mod otp;
pub mod otp_limit;
pub mod password;
pub mod pin;
pub mod support;
pub mod token;
pub mod token_verify;
pub mod v2;
pub mod validate_mobile_number;

use crate::App;
use crate::error::ApiError;
use crate::http::ApiRequest;
use crate::http::auth::authenticate;
use crate::http::body::Fields;

/// Parses the body and authenticates the merchant: the start of every merchant route.
pub(crate) async fn begin(app: &App, request: &ApiRequest) -> Result<(Fields, u64), ApiError> {
    let fields = Fields::parse(&request.headers, &request.body)?;
    let merchant_id = authenticate(app, &request.headers, &fields).await?;
    Ok((fields, merchant_id))
}
