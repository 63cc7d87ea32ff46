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
