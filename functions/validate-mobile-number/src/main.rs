//! `POST /api/auth/validate-mobile-number`: the E.164 form of a mobile number. Links no AWS client.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::VALIDATE_MOBILE_NUMBER).await
}
