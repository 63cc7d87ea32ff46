//! `POST /api/v2/auth/forgot_password`: emails a single-use password reset token.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::V2_FORGOT_PASSWORD).await
}
