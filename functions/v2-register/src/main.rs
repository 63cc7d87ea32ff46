//! `POST /api/v2/auth/register`: creates a customer of the v2 merchant and its first app key.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::V2_REGISTER).await
}
