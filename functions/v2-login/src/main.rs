//! `POST /api/v2/auth/login`: a mobile app key for an email and password or a Facebook token.

use shared::http::routes;

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let app = shared::lambda::dynamodb_app_with_facebook().await?;
    shared::lambda::run(app, &routes::V2_LOGIN).await
}
