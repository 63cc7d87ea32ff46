//! `POST /api/auth/validate-mobile-number`: the E.164 form of a mobile number. Reads DynamoDB to
//! check an API key (revoked, rotated and imported keys); a Bearer token needs no read.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::VALIDATE_MOBILE_NUMBER).await
}
