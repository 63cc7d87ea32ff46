//! `POST /api/v2/auth/reset_password`: sets a new password with the emailed token.

use shared::http::routes;

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let app = shared::lambda::dynamodb_app().await?;
    shared::lambda::run(app, &routes::V2_RESET_PASSWORD).await
}
