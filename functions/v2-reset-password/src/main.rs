//! `POST /api/v2/auth/reset_password`: sets a new password with the emailed token.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::V2_RESET_PASSWORD).await
}
