//! `POST /api/pin/unblock`: clears a customer's PIN failures.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::PIN_UNBLOCK).await
}
