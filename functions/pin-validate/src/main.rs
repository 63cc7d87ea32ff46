//! `POST /api/pin/validate`: checks a customer's PIN under the lockout.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::PIN_VALIDATE).await
}
