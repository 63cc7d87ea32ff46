//! Baseline for the cold-start harness: the least a DynamoDB-backed function does. It builds a
//! client from the environment at start-up (as the project's functions do) and reads one item
//! per request from the table named by `BENCH_TABLE`.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("BENCH_TABLE").unwrap_or_else(|_| "bench".to_string());
    lambda_http::run(service_fn(move |_request: Request| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            let item = client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S("BENCH".into()))
                .key("sk", AttributeValue::S("BENCH".into()))
                .send()
                .await;
            let status = if item.is_ok() { 200 } else { 503 };
            let body = Body::Text(format!("{{\"found\":{}}}", item.is_ok()));
            Ok::<_, Error>(Response::builder().status(status).body(body)?)
        }
    }))
    .await
}
