//! `POST /api/auth/request-otp-for-password-reset`: a code to reset a password, optionally delivered.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::REQUEST_OTP_FOR_PASSWORD_RESET).await
}
