//! `POST /api/auth/reset-password-with-otp`: sets a password with a reset code.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::RESET_PASSWORD_WITH_OTP).await
}
