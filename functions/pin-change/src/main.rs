//! `POST /api/pin/change`: changes a PIN after checking the current one.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::PIN_CHANGE).await
}
