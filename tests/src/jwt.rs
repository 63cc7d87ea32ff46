//! Minting tokens by hand, so tests can present the service with any header and payload.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

use crate::app::START;

/// An HS256 token with `kid`, signed with `secret`. `overrides` replaces or (with null)
/// removes fields of a valid access payload for merchant 1.
pub fn mint(kid: &str, secret: &str, overrides: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".into());
    header.kid = Some(kid.into());
    shared::domain::jwt::install_hs256();
    jsonwebtoken::encode(&header, &payload(overrides), &EncodingKey::from_secret(secret.as_bytes())).expect("encode")
}

/// Any header, signed with HMAC-SHA256 under `secret` (or unsigned when `None`), whatever
/// `alg` the header claims.
pub fn mint_raw(header: &Value, overrides: Value, secret: Option<&str>) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        engine.encode(header.to_string()),
        engine.encode(Value::Object(payload(overrides)).to_string())
    );
    let signature = match secret {
        None => String::new(),
        Some(secret) => {
            use hmac::Mac as _;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
            mac.update(signing_input.as_bytes());
            engine.encode(mac.finalize().into_bytes())
        }
    };
    format!("{signing_input}.{signature}")
}

fn payload(overrides: Value) -> Map<String, Value> {
    let mut payload = json!({
        "token_type": "access", "exp": START + 3600, "iat": START,
        "jti": "0123456789abcdef0123456789abcdef", "user_id": 1, "merchant_user_id": 1,
    });
    if let (Some(base), Value::Object(changes)) = (payload.as_object_mut(), overrides) {
        for (key, value) in changes {
            if value.is_null() {
                base.remove(&key);
            } else {
                base.insert(key, value);
            }
        }
    }
    payload.as_object().cloned().unwrap_or_default()
}

/// Header and payload of a token, without checking it.
pub fn decode_unverified(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let mut part = || -> Value {
        let bytes = engine.decode(parts.next().expect("part")).expect("base64");
        serde_json::from_slice(&bytes).expect("json")
    };
    (part(), part())
}
