//! Customer IDs past the range a store can hold. SQLite keeps IDs as signed 64-bit integers,
//! and both stores allocate them from 1 upwards, so an ID above 2^63 - 1 names no customer:
//! `invalid_user` (or the v2 "invalid token"), the same on both stores. Found by schemathesis
//! once `docs/openapi.yaml` stated the identifier's range: every route that reads a customer by
//! ID answered 500 on SQLite.

use integration_tests::app::{Backend, spawn_app_with};
use serde_json::{Value, json};
use shared::admin::CustomerInput;

both_stores!(an_id_past_the_stores_range_names_no_customer);

/// 2^63 (one past SQLite's largest integer) and 2^64 - 2.
const TOO_LARGE: [u64; 2] = [9_223_372_036_854_775_808, 18_446_744_073_709_551_614];

async fn an_id_past_the_stores_range_names_no_customer(backend: Backend) {
    let app = spawn_app_with(backend, &[("STAMPS_V2_MERCHANT", "1")]).await;
    let merchant = app.create_merchant("Kopi").await;
    app.create_customer(CustomerInput {
        merchant: merchant.id,
        email: Some("ann@example.com".into()),
        password: Some("violet-otter-kettle".into()),
        ..Default::default()
    })
    .await;
    for id in TOO_LARGE {
        for user in [json!(id), json!(id.to_string())] {
            let bodies: [(&str, Value); 13] = [
                ("/api/pin/validate", json!({"user": user, "pin": "246810"})),
                ("/api/pin/set", json!({"user": user, "pin": "246810", "confirm_pin": "246810"})),
                (
                    "/api/pin/change",
                    json!({"user": user, "current_pin": "246810", "new_pin": "135790", "confirm_new_pin": "135790"}),
                ),
                ("/api/pin/unblock", json!({"user": user})),
                ("/api/pin/request-otp-for-reset", json!({"user": user})),
                ("/api/pin/reset", json!({"user": user, "otp": "123456", "pin": "246810", "confirm_pin": "246810"})),
                (
                    "/api/pin/reset-with-password",
                    json!({"user": user, "password": "violet-otter-kettle", "pin": "246810", "confirm_pin": "246810"}),
                ),
                ("/api/auth/validate-password", json!({"user": user, "password": "violet-otter-kettle"})),
                (
                    "/api/auth/change-password",
                    json!({"user": user, "old_password": "violet-otter-kettle", "new_password": "silver-kettle-42"}),
                ),
                ("/api/auth/reset-otp-limit", json!({"user": user})),
                ("/api/auth/request-otp-for-password-reset", json!({"identifier": user, "type": "email"})),
                (
                    "/api/auth/reset-password-with-otp",
                    json!({"identifier": user, "otp": "123456", "new_password": "silver-kettle-42",
                           "confirm_new_password": "silver-kettle-42"}),
                ),
                ("/api/auth/set-password", json!({"email": user, "new_password": "silver-kettle-42"})),
            ];
            for (path, body) in bodies {
                let response = app.post_as(&merchant, path, &body).await;
                assert_eq!(
                    (response.status, response.error_code()),
                    (400, "invalid_user"),
                    "{path} {body}: {}",
                    response.text
                );
            }
        }
        let token = format!("{id}.0123456789abcdef0123456789abcdef");
        let response = app
            .post("/api/v2/auth/reset_password", &json!({"token": token, "password": "forest-bridge-64"}), &[])
            .await;
        assert_eq!(
            (response.status, &response.body),
            (400, &json!({"status": 0, "error": "Your reset token is invalid or has expired."})),
            "{token}: {}",
            response.text
        );
    }
}
