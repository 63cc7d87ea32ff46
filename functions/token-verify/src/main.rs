//! `POST /api/token/verify/`: checks an access token. Links no AWS client.

// One request at a time per Lambda environment: a single-threaded runtime starts fastest.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(&shared::http::routes::TOKEN_VERIFY).await
}
