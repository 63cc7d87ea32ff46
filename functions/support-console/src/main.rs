//! `/console/...`: the support console's pages (docs/console.md).

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve_console(&shared::http::routes::SUPPORT_CONSOLE).await
}
