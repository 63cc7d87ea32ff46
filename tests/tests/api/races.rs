//! 100-way races (issue 9): right codes submitted at once succeed exactly once; duplicate
//! registrations and customer creations make exactly one customer and leave nothing of the
//! others behind. The 100-way wrong PIN, wrong code and wrong password races live with their
//! routes (`pin.rs`, `otp.rs`, `password.rs`).

use futures::future::join_all;
use integration_tests::app::{Backend, TestResponse, spawn_app, spawn_app_with};
use serde_json::json;
use shared::admin::{self, AdminError, CustomerInput};
use shared::clock::Clock;
use shared::domain::otp::OtpPurpose;
use shared::store::UniqueField;

use crate::pin::setup;

both_stores!(
    a_hundred_right_pin_reset_codes_succeed_exactly_once,
    a_hundred_right_password_reset_codes_succeed_exactly_once,
    a_hundred_duplicate_registrations_make_one_customer,
    a_hundred_duplicate_customer_creations_make_one_customer,
);

const RACERS: usize = 100;

fn tally(responses: &[TestResponse]) -> (usize, usize) {
    let ok = responses.iter().filter(|r| r.status == 200).count();
    (ok, responses.len() - ok)
}

async fn a_hundred_right_pin_reset_codes_succeed_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let otp = app.post_as(&merchant, "/api/pin/request-otp-for-reset", &json!({"user": customer.id})).await.body["otp"]
        .as_str()
        .expect("otp")
        .to_string();
    let responses = join_all((0..RACERS).map(|i| {
        let pin = format!("{:06}", 500_000 + i);
        let body = json!({"user": customer.id, "otp": otp, "pin": pin, "confirm_pin": pin});
        let (app, merchant) = (&app, &merchant);
        async move { app.post_as(merchant, "/api/pin/reset", &body).await }
    }))
    .await;
    assert_eq!(tally(&responses), (1, RACERS - 1));
    assert!(responses.iter().filter(|r| r.status != 200).all(|r| r.error_code() == "invalid_otp"));
    let left = app.store.otp(merchant.id, customer.id, OtpPurpose::PinReset, app.clock.now()).await.expect("read");
    assert!(left.is_none(), "the code is consumed: {left:?}");
}

async fn a_hundred_right_password_reset_codes_succeed_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (merchant, customer) = setup(&app).await;
    let body = json!({"identifier": customer.id, "type": "email"});
    let otp = app.post_as(&merchant, "/api/auth/request-otp-for-password-reset", &body).await.body["otp"]
        .as_str()
        .expect("otp")
        .to_string();
    let responses = join_all((0..RACERS).map(|i| {
        let password = format!("race-winner-{i:03}");
        let body = json!({"identifier": customer.id, "otp": otp, "new_password": password,
                          "confirm_new_password": password});
        let (app, merchant) = (&app, &merchant);
        async move { (password, app.post_as(merchant, "/api/auth/reset-password-with-otp", &body).await) }
    }))
    .await;
    let winners: Vec<&String> = responses.iter().filter(|(_, r)| r.status == 200).map(|(p, _)| p).collect();
    assert_eq!(winners.len(), 1);
    assert!(responses.iter().filter(|(_, r)| r.status != 200).all(|(_, r)| r.error_code() == "invalid_otp"));
    let check = json!({"user": customer.id, "password": winners[0]});
    assert_eq!(app.post_as(&merchant, "/api/auth/validate-password", &check).await.status, 200);
}

async fn a_hundred_duplicate_registrations_make_one_customer(backend: Backend) {
    let app = spawn_app_with(backend, &[("STAMPS_V2_MERCHANT", "1")]).await;
    let merchant = app.create_merchant("Shoop").await;
    assert_eq!(merchant.id, 1);
    let responses = join_all((0..RACERS).map(|i| {
        let body = json!({"email": "race@example.com", "password": "rahasia-sekali-9", "name": "race",
                          "id_location": 1, "phone": format!("0812345{i:05}")});
        let app = &app;
        async move { app.post("/api/v2/auth/register", &body, &[]).await }
    }))
    .await;
    assert_eq!(tally(&responses), (1, RACERS - 1));
    assert!(responses.iter().filter(|r| r.status != 200).all(|r| r.status == 409), "only conflicts");
    let mut phones_taken = 0;
    for i in 0..RACERS {
        let phone = format!("+62812345{i:05}");
        let found = app.store.customer_by(merchant.id, UniqueField::Mobile, &phone).await.expect("read");
        phones_taken += usize::from(found.is_some());
    }
    assert_eq!(phones_taken, 1, "no loser left a claim or a customer behind");
}

async fn a_hundred_duplicate_customer_creations_make_one_customer(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = app.create_merchant("Kopi").await;
    let results = join_all((0..RACERS).map(|i| {
        let input = CustomerInput {
            merchant: merchant.id,
            email: Some("Same@Example.com".into()),
            member_id: Some(format!("M-{i:03}")),
            ..Default::default()
        };
        let app = &app.app;
        async move { admin::create_customer(app, input).await }
    }))
    .await;
    let created: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(created.len(), 1);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, AdminError::Duplicate { field: "email", .. })),
        "every loser is told the email is taken"
    );
    let mut member_ids_taken = 0;
    for i in 0..RACERS {
        let member_id = format!("M-{i:03}");
        let found = app.store.customer_by(merchant.id, UniqueField::MemberId, &member_id).await.expect("read");
        member_ids_taken += usize::from(found.is_some());
    }
    assert_eq!(member_ids_taken, 1, "no loser left a claim behind");
    // Every allocated ID is distinct, and the next customer still gets created.
    let next = app
        .create_customer(CustomerInput {
            merchant: merchant.id,
            email: Some("next@example.com".into()),
            ..Default::default()
        })
        .await;
    assert_ne!(next.id, created[0].id);
}
