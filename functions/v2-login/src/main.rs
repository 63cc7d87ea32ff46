//! `POST /api/v2/auth/login`: a mobile app key for an email and password or a Facebook token.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::V2_LOGIN).await
}
