//! The operator's commands. Each prints one JSON object on success, or returns a one-line
//! reason that `main` prints before exiting non-zero.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use shared::App;
use shared::admin::{self, CustomerInput, TemplateInput};
use shared::config::Config;
use shared::store::{AdminStore, StoreUrl};

/// Configuration and store (schema created), opened the same way the server opens them.
pub async fn open(store_url: &str) -> Result<(Config, Arc<dyn AdminStore>), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let url = StoreUrl::parse(store_url)?;
    let store = shared::store::open(&url, config.aws_timeout).await.map_err(|e| e.to_string())?;
    store.init().await.map_err(|e| e.to_string())?;
    Ok((config, store))
}

async fn app(store_url: &str) -> Result<App, String> {
    let (config, store) = open(store_url).await?;
    App::local(config, store).await.map_err(|e| e.to_string())
}

pub async fn init(store_url: &str) -> Result<(), String> {
    open(store_url).await?;
    println!("{}", json!({"status": "ok", "store": store_url}));
    Ok(())
}

pub async fn create_merchant(store_url: &str, name: &str) -> Result<(), String> {
    let app = app(store_url).await?;
    let (merchant, api_key) = admin::create_merchant(&app, name).await.map_err(|e| e.to_string())?;
    println!("{}", json!({"merchant_id": merchant.id, "name": merchant.name, "api_key": api_key}));
    Ok(())
}

pub async fn create_customer(store_url: &str, input: CustomerInput) -> Result<(), String> {
    let app = app(store_url).await?;
    let customer = admin::create_customer(&app, input).await.map_err(|e| e.to_string())?;
    println!(
        "{}",
        json!({
            "id": customer.id,
            "merchant_id": customer.merchant_id,
            "name": customer.name,
            "email": customer.email,
            "mobile": customer.mobile,
            "member_id": customer.member_id,
        })
    );
    Ok(())
}

/// Prints one line per rejected record, then the summary; exits non-zero when any line was
/// rejected (the others are imported all the same).
pub async fn import_customers(store_url: &str, merchant: u64, file: &Path) -> Result<(), String> {
    let mut text = String::new();
    let read = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let app = app(store_url).await?;
    let report = admin::import_customers(&app, merchant, &text).await.map_err(|e| e.to_string())?;
    for (line, reason) in &report.rejected {
        println!("{}", json!({"line": line, "status": "rejected", "reason": reason}));
    }
    println!("{}", report.summary());
    if report.rejected.is_empty() { Ok(()) } else { Err(format!("{} line(s) rejected", report.rejected.len())) }
}

pub async fn put_template(store_url: &str, input: TemplateInput) -> Result<(), String> {
    let app = app(store_url).await?;
    let template = admin::put_template(&app, input).await.map_err(|e| e.to_string())?;
    println!("{}", json!({"status": "ok", "merchant_id": template.merchant_id, "code": template.code}));
    Ok(())
}

pub async fn list_templates(store_url: &str, merchant: u64) -> Result<(), String> {
    let app = app(store_url).await?;
    let templates = admin::templates(&app, merchant).await.map_err(|e| e.to_string())?;
    let list: Vec<_> = templates
        .iter()
        .map(|t| json!({"code": t.code, "subject": t.subject, "text": t.text, "html": t.html, "sms": t.sms}))
        .collect();
    println!("{}", json!({"merchant_id": merchant, "templates": list}));
    Ok(())
}

/// The customer `user` names among the merchant's, as the routes find it.
async fn find_customer(app: &App, merchant: u64, user: &str) -> Result<shared::store::Customer, String> {
    let mut fields = serde_json::Map::new();
    fields.insert("user".into(), json!(user));
    shared::handlers::customer::resolve(app, merchant, &shared::http::body::Fields::from_map(fields), "user")
        .await
        .map_err(|error| error.detail())
}

pub async fn customer_status(store_url: &str, merchant: u64, user: &str) -> Result<(), String> {
    let app = app(store_url).await?;
    let customer = find_customer(&app, merchant, user).await?;
    let status = shared::status::customer_status(&app, &customer).await.map_err(|error| error.detail())?;
    println!("{}", serde_json::to_value(&status).map_err(|e| e.to_string())?);
    Ok(())
}

pub async fn customer_events(
    store_url: &str,
    merchant: u64,
    user: &str,
    limit: u32,
    before: Option<&str>,
) -> Result<(), String> {
    if !(1..=shared::history::MAX_LIMIT).contains(&limit) {
        return Err(format!("--limit must be from 1 to {}", shared::history::MAX_LIMIT));
    }
    if before.is_some_and(|before| !shared::history::is_id(before)) {
        return Err("--before must be the \"next\" of an earlier page".into());
    }
    let app = app(store_url).await?;
    let customer = find_customer(&app, merchant, user).await?;
    let page =
        shared::history::page(&app, merchant, customer.id, limit, before).await.map_err(|error| error.detail())?;
    let events: Vec<_> = page.events.iter().map(shared::history::to_json).collect();
    println!("{}", json!({"user": customer.id, "events": events, "next": page.next}));
    Ok(())
}

/// `--email ""` removes the email, as `--mobile ""` the mobile number.
pub async fn update_customer(
    store_url: &str,
    merchant: u64,
    user: &str,
    email: Option<String>,
    mobile: Option<String>,
) -> Result<(), String> {
    if email.is_none() && mobile.is_none() {
        return Err("give --email or --mobile (an empty value removes it)".into());
    }
    let app = app(store_url).await?;
    let email = match email.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(email) if shared::domain::identifier::looks_like_email(email) => {
            Some(Some(shared::domain::identifier::normalize_email(email)))
        }
        Some(email) => return Err(format!("{email:?} is not an email address")),
    };
    let mobile = match mobile.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(number) => Some(Some(
            shared::domain::mobile::parse_mobile(number, app.config.default_region)
                .ok_or_else(|| format!("{number:?} is not a mobile number"))?,
        )),
    };
    let customer = find_customer(&app, merchant, user).await?;
    let change = shared::store::ContactChange { email, mobile };
    let store = app.store().map_err(|error| error.detail())?;
    let updated = store
        .update_contact(merchant, customer.id, &change)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the customer no longer exists".to_string())?;
    println!(
        "{}",
        json!({"id": updated.id, "merchant_id": updated.merchant_id, "email": updated.email, "mobile": updated.mobile})
    );
    Ok(())
}
