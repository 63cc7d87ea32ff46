//! `POST /api/auth/change-password`: changes a password after checking the old one.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::CHANGE_PASSWORD).await
}
