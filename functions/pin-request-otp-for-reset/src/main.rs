//! `POST /api/pin/request-otp-for-reset`: a code to reset a PIN, optionally delivered.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::PIN_REQUEST_OTP_FOR_RESET).await
}
