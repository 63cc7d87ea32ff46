//! Merchants moved from the system being replaced (their IDs and API keys kept), and key
//! rotation.

use std::io::BufRead;

use serde::Deserialize;

use super::{AdminError, failed};
use crate::App;
use crate::admin::import::{ImportProgress, ImportSummary, content, read_line_bounded};
use crate::domain::secrets::{ApiKey, MAX_API_KEY_BYTES};
use crate::store::{Merchant, MerchantImport};

/// The shortest imported key: a REST-framework token is 40 hex digits; anything much shorter
/// could be guessed.
pub const MIN_IMPORTED_KEY_BYTES: usize = 20;

/// One merchant of an import file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantLine {
    merchant_id: u64,
    name: String,
    /// The key as the old system stored it and its clients send it.
    api_key: String,
    /// Epoch seconds; the time of the import when absent.
    #[serde(default)]
    created_at: Option<i64>,
}

/// Whether `api_key` can be imported for `merchant_id`: a credential clients can send (in a
/// header or a JSON string), long enough not to be guessed. A key in this service's own
/// shape must have been issued to that merchant under this hash key, since that is how it
/// will be checked.
fn check_imported_key(app: &App, api_key: &str, merchant_id: u64) -> Result<(), String> {
    if !(MIN_IMPORTED_KEY_BYTES..=MAX_API_KEY_BYTES).contains(&api_key.len()) {
        return Err(format!("api_key must be {MIN_IMPORTED_KEY_BYTES}-{MAX_API_KEY_BYTES} characters"));
    }
    if !api_key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("api_key must be printable ASCII without spaces".into());
    }
    if ApiKey::is_tagged(api_key) && ApiKey::verify(&app.hash_key, api_key) != Some(merchant_id) {
        return Err(format!(
            "api_key has this service's key format but was not issued to merchant {merchant_id} under this \
             STAMPS_HASH_KEY"
        ));
    }
    Ok(())
}

/// Imports merchants from JSON lines of `merchant_id`, `name`, `api_key` (and `created_at`):
/// the IDs are kept (access tokens name them) and each key is stored only as its keyed hash
/// and accepted from then on wherever a merchant's key is. Idempotent: a merchant already
/// there under the same name is skipped (its keys are left as they are: a key rotated since
/// is not brought back); a clash is reported with the line number and writes nothing.
pub async fn import_merchants_from(
    app: &App,
    reader: Box<dyn BufRead + Send>,
    progress: &mut dyn ImportProgress,
) -> Result<ImportSummary, AdminError> {
    let operator = app.operator().map_err(failed)?;
    let mut summary = ImportSummary::default();
    let mut reader = reader;
    let mut number = 0;
    loop {
        let mut raw = Vec::new();
        let read = read_line_bounded(reader.as_mut(), &mut raw)
            .map_err(|e| AdminError::Failed(format!("cannot read the file: {e}")))?;
        if read == 0 {
            break;
        }
        number += 1;
        let Some(line) = content(&raw) else { continue };
        let parsed = serde_json::from_slice::<MerchantLine>(line)
            .map_err(|e| format!("not a merchant record: {e}"))
            .and_then(|parsed| {
                if parsed.merchant_id == 0 || i64::try_from(parsed.merchant_id).is_err() {
                    return Err("merchant_id must be a positive integer below 2^63".to_string());
                }
                if parsed.name.trim().is_empty() {
                    return Err("the merchant name must not be blank".to_string());
                }
                check_imported_key(app, &parsed.api_key, parsed.merchant_id)?;
                Ok(parsed)
            });
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(reason) => {
                summary.rejected += 1;
                progress.rejected(number, &reason);
                continue;
            }
        };
        let merchant = Merchant {
            id: parsed.merchant_id,
            name: parsed.name.trim().to_string(),
            created_at: parsed.created_at.unwrap_or_else(|| app.clock.now()),
        };
        let hash = ApiKey::stored_hash(&app.hash_key, &parsed.api_key);
        let refusal = match operator.import_merchant(&merchant, &hash).await.map_err(failed)? {
            MerchantImport::Created => {
                summary.imported += 1;
                continue;
            }
            MerchantImport::Exists(existing) if existing.name == merchant.name => {
                summary.skipped += 1;
                continue;
            }
            MerchantImport::Exists(_) => format!("merchant ID {} is taken by a different merchant", merchant.id),
            MerchantImport::KeyTaken(holder) => format!("this api_key is already merchant {holder}'s"),
        };
        summary.rejected += 1;
        progress.rejected(number, &refusal);
    }
    Ok(summary)
}

/// A merchant's new key, shown only this once.
#[derive(Debug, Clone)]
pub struct RotatedKey {
    pub api_key: String,
    /// How many keys were live before.
    pub old_keys: u32,
    /// When they stop working (now, without a grace period).
    pub old_keys_expire_at: i64,
}

/// Issues a new API key for `merchant` and ends its current ones: at once with `grace_secs`
/// 0, else after that many seconds, so clients can move to the new key meanwhile.
pub async fn rotate_api_key(app: &App, merchant: u64, grace_secs: i64) -> Result<RotatedKey, AdminError> {
    if grace_secs < 0 {
        return Err(AdminError::Invalid("the grace period must not be negative".into()));
    }
    let operator = app.operator().map_err(failed)?;
    let api_key = ApiKey::generate(&crate::random::OsRandom, &app.hash_key, merchant).map_err(failed)?;
    let now = app.clock.now();
    let old_keys_expire_at = now.saturating_add(grace_secs);
    let hash = ApiKey::stored_hash(&app.hash_key, &api_key);
    match operator.rotate_api_key(merchant, &hash, old_keys_expire_at, now).await.map_err(failed)? {
        Some(old_keys) => Ok(RotatedKey { api_key, old_keys, old_keys_expire_at }),
        None => Err(AdminError::NoSuchMerchant(merchant)),
    }
}
