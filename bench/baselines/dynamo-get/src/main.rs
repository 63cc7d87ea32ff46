//! Baseline for the cold-start harness: the least a DynamoDB-backed function does. It builds a
//! client from the environment at start-up (as the project's functions do) and reads one item
//! per request from the table named by `BENCH_TABLE`.

mod get_item;

use lambda_http::{Error, Request, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("BENCH_TABLE").unwrap_or_else(|_| "bench".to_string());
    lambda_http::run(service_fn(move |_request: Request| {
        let (client, table) = (client.clone(), table.clone());
        async move { get_item::answer(&client, &table).await }
    }))
    .await
}
