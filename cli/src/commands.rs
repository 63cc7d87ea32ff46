//! The operator's commands. Each prints one JSON object on success, or returns a one-line
//! reason that `main` prints before exiting non-zero.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal as _, Write};
use std::path::Path;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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

/// The file to read, or standard input for `-`.
fn reader(file: &Path) -> Result<(Box<dyn BufRead + Send>, Option<u64>), String> {
    if file == Path::new("-") {
        return Ok((Box::new(BufReader::new(std::io::stdin())), None));
    }
    let opened = File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let size = opened.metadata().ok().map(|m| m.len());
    Ok((Box::new(BufReader::with_capacity(1 << 20, opened)), size))
}

/// Reports an import: each rejected line as a JSON line on stdout as it is found, and a
/// progress bar on stderr when stderr is a terminal.
struct Report {
    bar: Option<ProgressBar>,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Report {
    fn new(size: Option<u64>) -> Report {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match size {
                Some(size) => ProgressBar::new(size).with_style(
                    ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
                None => ProgressBar::new_spinner(),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar
        });
        Report { bar, out: std::io::BufWriter::new(std::io::stdout()) }
    }

    /// The summary line; `Err` when any line was rejected (the others are imported all the same).
    fn finish(mut self, summary: &admin::ImportSummary, dry_run: bool) -> Result<(), String> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let mut line = json!(summary);
        line["dry_run"] = json!(dry_run);
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
        if summary.rejected == 0 { Ok(()) } else { Err(format!("{} line(s) rejected", summary.rejected)) }
    }
}

impl admin::ImportProgress for Report {
    fn rejected(&mut self, line: usize, reason: &str) {
        let _ = writeln!(self.out, "{}", json!({"line": line, "status": "rejected", "reason": reason}));
    }

    fn advanced(&mut self, bytes: u64, summary: &admin::ImportSummary) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!(
                "{} imported, {} skipped, {} rejected",
                summary.imported, summary.skipped, summary.rejected
            ));
        }
    }
}

/// Prints one line per rejected record as it is found, then the summary; exits non-zero when
/// any line was rejected (the others are imported all the same).
pub async fn import_customers(store_url: &str, merchant: u64, file: &Path, dry_run: bool) -> Result<(), String> {
    let (input, size) = reader(file)?;
    let app = app(store_url).await?;
    let mut report = Report::new(size);
    let options = admin::ImportOptions { dry_run };
    let summary =
        admin::import_customers_from(&app, merchant, input, options, &mut report).await.map_err(|e| e.to_string())?;
    report.finish(&summary, dry_run)
}

pub async fn import_merchants(store_url: &str, file: &Path) -> Result<(), String> {
    let (input, size) = reader(file)?;
    let app = app(store_url).await?;
    let mut report = Report::new(size);
    let summary = admin::import_merchants_from(&app, input, &mut report).await.map_err(|e| e.to_string())?;
    report.finish(&summary, false)
}

/// Streams the export to `output` (stdout when `None`); the count goes to stderr.
pub async fn export_customers(store_url: &str, merchant: u64, output: Option<&Path>) -> Result<(), String> {
    let app = app(store_url).await?;
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let written = admin::export_customers(&app, merchant, &mut out).await.map_err(|e| e.to_string())?;
    eprintln!("{}", json!({"merchant_id": merchant, "exported": written}));
    Ok(())
}

pub async fn rotate_key(store_url: &str, merchant: u64, grace_secs: i64) -> Result<(), String> {
    let app = app(store_url).await?;
    let rotated = admin::rotate_api_key(&app, merchant, grace_secs).await.map_err(|e| e.to_string())?;
    println!(
        "{}",
        json!({
            "merchant_id": merchant,
            "api_key": rotated.api_key,
            "old_keys": rotated.old_keys,
            "old_keys_expire_at": rotated.old_keys_expire_at,
        })
    );
    Ok(())
}

/// A duration in seconds: a number, or a number with `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    digits.parse::<i64>().ok().filter(|_| scale > 0).and_then(|n| n.checked_mul(scale)).ok_or_else(|| {
        format!("{text:?} is not a duration: seconds, or a number with s, m, h or d (90s, 30m, 24h, 7d)")
    })
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

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_are_seconds_or_a_number_with_a_unit() {
        for (text, seconds) in [("0", 0), ("90", 90), ("90s", 90), ("30m", 1800), ("24h", 86_400), ("7d", 604_800)] {
            assert_eq!(parse_duration(text), Ok(seconds), "{text}");
        }
        for text in ["", "h", "-5", "1.5h", "3w", "soon", "99999999999999999999d"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }
}
