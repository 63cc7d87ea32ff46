//! `POST /api/token/verify/`: checks an access token. Links no AWS client.

use shared::http::routes;

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let app = shared::lambda::stateless_app()?;
    shared::lambda::run(app, &routes::TOKEN_VERIFY).await
}
