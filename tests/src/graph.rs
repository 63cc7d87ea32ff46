//! A stand-in for Facebook's Graph API on loopback: `GET /debug_token` and `GET /me`, with
//! `appsecret_proof` checked as Graph checks it for an app that has "Require App Secret" on.
//!
//! Our app is `APP_ID` / `APP_SECRET` (it requires the proof); `OTHER_APP_ID` is another app
//! (an attacker's, or any app the user also signed in to) that does not. Tokens:
//!
//! | token | issued to | user | `/me` |
//! |---|---|---|---|
//! | `good-token` | our app | 1001 | `{"id": "1001", "email": "fb@example.com"}` |
//! | `other-token` | our app | 2002 | `{"id": "2002"}` |
//! | `other-app-token` | the other app | 1001 | `{"id": "1001", ...}` (the same person) |
//! | `other-app-new-token` | the other app | 3003 | `{"id": "3003"}` |
//! | `huge-token` | our app | 1001 | a 100 KiB answer: not Graph |
//! | `garbage-token` | our app | 1001 | HTML: not Graph |
//! | `debug-garbage-token` | - | - | `debug_token` answers HTML |
//! | anything else | - | - | refused: `debug_token` says `is_valid: false`, `/me` 400 |
//!
//! `debug_token` must be asked with our app's access token (`APP_ID|APP_SECRET`) and its proof,
//! or it answers 400 as Graph does. A `/me` call with our app's token must carry the right
//! proof. Graph also refuses a wrong proof sent for an app that does not require one; the
//! stand-in does not, so that the app check of `debug_token` (not the proof) is what a test
//! of another app's token exercises.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

pub const APP_ID: &str = "424242";
pub const APP_SECRET: &str = "stand-in-app-secret-0f1e2d3c4b5a";
pub const OTHER_APP_ID: &str = "777777";

/// The configuration variables of a server that signs in with our app at `url`.
pub fn app_vars(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("STAMPS_FACEBOOK_GRAPH_URL", url.to_string()),
        ("STAMPS_FACEBOOK_APP_ID", APP_ID.to_string()),
        ("STAMPS_FACEBOOK_APP_SECRET", APP_SECRET.to_string()),
    ]
}

/// `appsecret_proof` as Graph computes it: hex HMAC-SHA256 of the access token, keyed with the
/// app secret. Written here independently of the service's code.
pub fn proof(secret: &str, access_token: &str) -> String {
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(access_token.as_bytes());
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

struct Token {
    app_id: &'static str,
    user_id: &'static str,
    email: Option<&'static str>,
}

fn token(name: &str) -> Option<Token> {
    let (app_id, user_id, email) = match name {
        "good-token" | "huge-token" | "garbage-token" => (APP_ID, "1001", Some("fb@example.com")),
        "other-token" => (APP_ID, "2002", None),
        "other-app-token" => (OTHER_APP_ID, "1001", Some("fb@example.com")),
        "other-app-new-token" => (OTHER_APP_ID, "3003", None),
        _ => return None,
    };
    Some(Token { app_id, user_id, email })
}

fn graph_error(code: u32, kind: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"message": message, "type": kind, "code": code}})))
        .into_response()
}

fn invalid_token() -> Response {
    graph_error(190, "OAuthException", "Invalid OAuth access token.")
}

/// Graph's check of `appsecret_proof` for a call made with `access_token` of an app that
/// requires the proof (keyed with `secret`): its refusal, if any.
fn proof_refused(query: &HashMap<String, String>, secret: &str, access_token: &str) -> Option<Response> {
    let why = match query.get("appsecret_proof") {
        None => "API calls from the server require an appsecret_proof argument",
        Some(sent) if *sent == proof(secret, access_token) => return None,
        Some(_) => "Invalid appsecret_proof provided in the API argument",
    };
    Some(graph_error(100, "GraphMethodException", why))
}

fn debug_token(query: &HashMap<String, String>) -> Response {
    let access_token = query.get("access_token").map(String::as_str).unwrap_or_default();
    if access_token != format!("{APP_ID}|{APP_SECRET}") {
        return graph_error(190, "OAuthException", "Invalid OAuth access token signature.");
    }
    if let Some(refused) = proof_refused(query, APP_SECRET, access_token) {
        return refused;
    }
    let input = query.get("input_token").map(String::as_str).unwrap_or_default();
    if input == "debug-garbage-token" {
        return (StatusCode::OK, "<html>not Graph</html>").into_response();
    }
    let data: Value = match token(input) {
        Some(token) => json!({
            "app_id": token.app_id, "type": "USER", "application": "stand-in", "is_valid": true,
            "expires_at": 4_102_444_800u64, "scopes": ["email", "public_profile"], "user_id": token.user_id,
        }),
        None => {
            json!({"error": {"code": 190, "message": "Invalid OAuth access token."}, "is_valid": false, "scopes": []})
        }
    };
    (StatusCode::OK, axum::Json(json!({"data": data}))).into_response()
}

fn me(query: &HashMap<String, String>) -> Response {
    if query.get("fields").map(String::as_str) != Some("id,email") {
        return graph_error(100, "GraphMethodException", "fields");
    }
    let access_token = query.get("access_token").map(String::as_str).unwrap_or_default();
    let Some(token) = token(access_token) else {
        return invalid_token();
    };
    if token.app_id == APP_ID
        && let Some(refused) = proof_refused(query, APP_SECRET, access_token)
    {
        return refused;
    }
    match access_token {
        "huge-token" => {
            (StatusCode::OK, axum::Json(json!({"id": token.user_id, "pad": "x".repeat(100 * 1024)}))).into_response()
        }
        "garbage-token" => (StatusCode::OK, "<html>not Graph</html>").into_response(),
        _ => {
            let mut user = json!({"id": token.user_id});
            if let Some(email) = token.email {
                user["email"] = json!(email);
            }
            (StatusCode::OK, axum::Json(user)).into_response()
        }
    }
}

/// Starts the stand-in; answers its base URL. `delay` makes every answer late.
pub async fn spawn_graph(delay: Duration) -> String {
    let router = axum::Router::new()
        .route(
            "/debug_token",
            get(move |Query(query): Query<HashMap<String, String>>| async move {
                tokio::time::sleep(delay).await;
                debug_token(&query)
            }),
        )
        .route(
            "/me",
            get(move |Query(query): Query<HashMap<String, String>>| async move {
                tokio::time::sleep(delay).await;
                me(&query)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}
