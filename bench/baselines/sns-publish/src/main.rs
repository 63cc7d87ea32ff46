//! Baseline for the cold-start harness: the least an SNS-publishing function does. It builds a
//! client from the environment at start-up and publishes one message per request to the topic
//! named by `BENCH_TOPIC_ARN`: what one SNS call costs a function, to set beside the project's
//! functions that publish OTP events.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_sns::Client::new(&config);
    let topic = std::env::var("BENCH_TOPIC_ARN").unwrap_or_default();
    lambda_http::run(service_fn(move |_request: Request| {
        let (client, topic) = (client.clone(), topic.clone());
        async move {
            let published = client.publish().topic_arn(topic).message("{\"bench\":true}").send().await;
            let status = if published.is_ok() { 200 } else { 503 };
            let body = Body::Text(format!("{{\"published\":{}}}", published.is_ok()));
            Ok::<_, Error>(Response::builder().status(status).body(body)?)
        }
    }))
    .await
}
