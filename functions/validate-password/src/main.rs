//! `POST /api/auth/validate-password`: checks a customer's password.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::VALIDATE_PASSWORD).await
}
