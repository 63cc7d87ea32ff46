//! The integration tests: one binary, every route, both stores. Each test gets its own
//! server and store from `spawn_app`.

/// Runs each listed `async fn(Backend)` once on SQLite and once on DynamoDB (moto).
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(integration_tests::app::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn dynamodb() {
                    super::$name(integration_tests::app::Backend::DynamoDb).await
                }
            }
        )*
    };
}

mod conventions;
mod cutover;
mod delivery;
mod history;
mod identifiers;
mod metrics;
mod otp;
mod password;
mod pin;
mod races;
mod round_trips;
mod rules_model;
mod store_contract;
mod store_operator;
mod token;
mod token_attacks;
mod v2;
mod v2_abuse;
mod validate_mobile_number;
