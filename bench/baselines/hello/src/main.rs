//! Baseline for the cold-start harness: a hello-world `lambda_http` function, built with the
//! project's release profile and runtime flavour.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        let response = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::Text("{\"status\":\"ok\"}".to_string()))?;
        Ok::<_, Error>(response)
    }))
    .await
}
