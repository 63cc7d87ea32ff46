//! `POST /api/auth/request-otp-for-password-reset`: a code to reset a password, optionally delivered.

use shared::http::routes;

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let app = shared::lambda::dynamodb_app_with_events().await?;
    shared::lambda::run(app, &routes::REQUEST_OTP_FOR_PASSWORD_RESET).await
}
