//! `POST /api/auth/validate-mobile-number`: the E.164 form of a mobile number. Reads DynamoDB to
//! check an API key (revoked, rotated and imported keys); a Bearer token needs no read.

use shared::http::routes;

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let app = shared::lambda::dynamodb_app().await?;
    shared::lambda::run(app, &routes::VALIDATE_MOBILE_NUMBER).await
}
