//! The support console in a real browser: headless Chromium driven through WebDriver
//! (`chromedriver`, Debian's `chromium` and `chromium-driver`) against the test server, once on
//! each store. `scripts/test.sh` installs them; without them these tests fail saying what to
//! install (they are never skipped).
//!
//! `STAMPS_CONSOLE_SCREENSHOTS=docs/console` also saves screenshots of the main pages there
//! (the SQLite run), for the README.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use integration_tests::app::{Backend, TestApp, TestMerchant, spawn_app_with};
use serde_json::{Value, json};
use shared::admin::CustomerInput;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_sqlite() {
    support_flow(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_dynamodb() {
    support_flow(Backend::DynamoDb).await
}

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PIN: &str = "135790";
const SESSION_SECS: i64 = 28_800;

/// A headless Chromium through its own chromedriver, which ends with it.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
}

async fn browser() -> Browser {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists(),
        "the console tests need Chromium and its WebDriver: apt-get install chromium chromium-driver \
         (./scripts/test.sh installs them when run as root)"
    );
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("addr").port()
    };
    let driver = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        // Its own process group, which Chromium's processes join: `Drop` ends them all, also
        // when a test fails before closing the browser.
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-crash-reporter",
                        "--window-size=1280,1000", "--lang=en-US"]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let url = format!("http://127.0.0.1:{port}");
    // chromedriver takes a moment to listen.
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone()).capabilities(capabilities.clone()).connect(&url).await {
            Ok(client) => return Browser { client, _driver: driver },
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("chromedriver did not answer on {url}");
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self._driver.id() {
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        }
    }
}

impl Browser {
    async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    async fn element(&self, id: &str) -> fantoccini::elements::Element {
        // Waits: a click that submits a form returns before the next page may be there.
        match self.client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Id(id)).await {
            Ok(element) => element,
            Err(_) => panic!("no #{id} on the page:\n{}", self.body().await),
        }
    }

    /// `#id`'s text, once the page that has it is there (retried while a navigation makes the
    /// element found stale).
    async fn text(&self, id: &str) -> String {
        for _ in 0..150 {
            if let Ok(element) = self.client.find(Locator::Id(id)).await
                && let Ok(text) = element.text().await
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no #{id} on the page:\n{}", self.body().await)
    }

    async fn click(&self, id: &str) {
        self.element(id).await.click().await.expect("click");
    }

    async fn fill(&self, id: &str, text: &str) {
        let field = self.element(id).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("typing");
    }

    async fn body(&self) -> String {
        self.client.find(Locator::Css("main")).await.expect("main").text().await.expect("text")
    }

    /// Waits up to 15 s (a loaded CI machine) for `#id`'s text to contain `wanted` (the live preview, the next page).
    async fn wait_for_text(&self, id: &str, wanted: &str) -> String {
        let mut last = String::new();
        for _ in 0..150 {
            if let Ok(element) = self.client.find(Locator::Id(id)).await {
                last = element.text().await.unwrap_or_default();
            }
            if last.contains(wanted) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("#{id} never showed {wanted:?}; it shows {last:?}");
    }

    async fn sign_in(&self, base: &str, api_key: &str) {
        self.open(&format!("{base}/console/")).await;
        self.fill("api_key", api_key).await;
        self.click("sign-in").await;
    }

    async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("STAMPS_CONSOLE_SCREENSHOTS") else { return };
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }
}

async fn api(app: &TestApp, merchant: &TestMerchant, path: &str, body: Value) -> (u16, Value) {
    let response = app.post_as(merchant, path, &body).await;
    (response.status, response.body)
}

async fn support_flow(backend: Backend) {
    let app = spawn_app_with(backend, &[("STAMPS_CONSOLE_SIGN_IN_FAILURES_PER_WINDOW", "2")]).await;
    let shots = backend == Backend::Sqlite;
    let base = app.url.clone();
    let shop = app.create_merchant("Kopi Kenangan").await;
    let other = app.create_merchant("Other shop").await;
    let ann = app
        .create_customer(CustomerInput {
            merchant: shop.id,
            email: Some("ann@example.com".into()),
            mobile: Some("081234567890".into()),
            member_id: Some("M-001".into()),
            name: Some("Ann".into()),
            ..CustomerInput::default()
        })
        .await;
    let bob = app
        .create_customer(CustomerInput {
            merchant: other.id,
            email: Some("bob@example.com".into()),
            name: Some("Bob".into()),
            ..CustomerInput::default()
        })
        .await;
    let (status, _) = api(&app, &shop, "/api/pin/set", json!({"user": ann.id, "pin": PIN, "confirm_pin": PIN})).await;
    assert_eq!(status, 200);
    // Three wrong PINs through the API block it.
    for _ in 0..3 {
        let (status, _) = api(&app, &shop, "/api/pin/validate", json!({"user": ann.id, "pin": "000000"})).await;
        assert_ne!(status, 200);
    }
    let (status, body) = api(&app, &shop, "/api/pin/validate", json!({"user": ann.id, "pin": PIN})).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("pin_blocked")), "{body}");

    let browser = browser().await;

    // `/` links to the console; the console starts at its sign-in form.
    browser.open(&format!("{base}/")).await;
    browser.click("console-link").await;
    assert!(browser.body().await.contains("Merchant API key"));
    if shots {
        browser.screenshot("sign-in").await;
    }
    browser.sign_in(&base, &shop.api_key).await;

    // Found by the mobile number in another format than stored.
    browser.fill("user", "+6281234567890").await;
    browser.click("find").await;
    browser.wait_for_text("pin-state", "Blocked after 3 wrong PINs").await;
    let url = browser.client.current_url().await.expect("url");
    assert!(url.as_str().ends_with(&format!("/console/customer?id={}", ann.id)), "{url}");
    if shots {
        browser.screenshot("customer-blocked").await;
    }

    // Unblock: the PIN works through the API again, and the history shows it.
    browser.click("unblock-pin").await;
    browser.wait_for_text("done", "unblocked").await;
    browser.wait_for_text("pin-state", "0 of 3").await;
    let (status, body) = api(&app, &shop, "/api/pin/validate", json!({"user": ann.id, "pin": PIN})).await;
    assert_eq!(status, 200, "{body}");
    browser.client.refresh().await.expect("reload");
    let history = browser.text("history").await;
    let first_row = history.lines().nth(1).unwrap_or_default().to_string();
    assert!(first_row.contains("pin_validated"), "newest first: {history}");
    assert!(history.contains("pin_unblocked") && history.contains("console"), "{history}");
    assert!(history.contains("pin_blocked"), "{history}");

    // The OTP limit: used up through the API, reset in the console, usable again.
    for _ in 0..5 {
        let (status, body) = api(&app, &shop, "/api/pin/request-otp-for-reset", json!({"user": ann.id})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = api(&app, &shop, "/api/pin/request-otp-for-reset", json!({"user": ann.id})).await;
    assert_eq!(status, 429);
    browser.client.refresh().await.expect("reload");
    browser.wait_for_text("otp-state", "5 of 5 code requests used, 0 left").await;
    browser.click("reset-otp-limit").await;
    browser.wait_for_text("otp-state", "0 of 5").await;
    let (status, _) = api(&app, &shop, "/api/pin/request-otp-for-reset", json!({"user": ann.id})).await;
    assert_eq!(status, 200);

    // Another merchant's customer is not found, by email or by ID.
    browser.open(&format!("{base}/console/find?user=bob@example.com")).await;
    browser.wait_for_text("message", "No customer of yours matches").await;
    browser.open(&format!("{base}/console/customer?id={}", bob.id)).await;
    browser.wait_for_text("message", "No customer of yours matches").await;

    // A template, with the live preview of the email and the SMS.
    browser.open(&format!("{base}/console/templates")).await;
    browser.click("new-template").await;
    browser.fill("code", "reset").await;
    browser.fill("subject", "Your code").await;
    browser.fill("text", "Hi {{ name }}, your code is {{ otp }}").await;
    browser.fill("html", "<p>Hi {{ name }}, your code is <b>{{ otp }}</b></p>").await;
    browser.fill("sms", "{{ otp }} is your code").await;
    browser.click("save").await;
    browser.wait_for_text("done", "Saved").await;
    assert_eq!(browser.text("sms-length").await, "19 characters, GSM-7: 1 SMS");
    browser.fill("sms", "{{ otp }} adalah kode Anda ✓").await;
    browser.wait_for_text("sms-length", "UCS-2").await;
    browser.fill("text", "Halo {{ name }}, kode {{ otp }}").await;
    browser.wait_for_text("preview-text", "Halo Customer, kode 123456").await;
    let frame = browser.client.find(Locator::Id("preview-html")).await.expect("frame");
    assert_eq!(frame.attr("sandbox").await.expect("attr").as_deref(), Some(""));
    let srcdoc = frame.attr("srcdoc").await.expect("attr").unwrap_or_default();
    assert!(srcdoc.contains("<b>123456</b>"), "{srcdoc}");
    if shots {
        browser.screenshot("template-preview").await;
    }
    browser.fill("sms", "{{ oops(").await;
    browser.wait_for_text("sms-error", "does not render").await;
    browser.fill("sms", "{{ otp }} is your code").await;
    browser.click("save").await;
    browser.wait_for_text("done", "Saved").await;

    // A reset code sent with that template: delivered, never shown.
    browser.open(&format!("{base}/console/customer?id={}", ann.id)).await;
    browser.click("send-code").await;
    browser.wait_for_text("done", "on its way").await;
    let messages = app.outbox_messages().await;
    let sent = messages.last().expect("a message in the outbox");
    let code = sent["text"].as_str().unwrap_or_default().split(' ').next().unwrap_or_default().to_string();
    assert_eq!(code.len(), 6, "{sent}");
    assert!(!browser.client.source().await.expect("source").contains(&code));
    browser.open(&format!("{base}/console/outbox")).await;
    browser.wait_for_text("outbox", "is your code").await;

    // A phone-sized screen.
    if shots {
        browser.client.set_window_size(360, 800).await.expect("resize");
        browser.open(&format!("{base}/console/customer?id={}", ann.id)).await;
        browser.screenshot("customer-phone").await;
        browser.client.set_window_size(1280, 1000).await.expect("resize");
    }

    // CSRF: the session's cookie without the session's token is refused, and nothing changes.
    let cookie = browser.client.get_named_cookie("stamps_console").await.expect("session cookie");
    let cookie = format!("stamps_console={}", cookie.value());
    for form in ["id=1", "id=1&csrf=", "id=1&csrf=0000000000000000000000000000000000000000000000000000000000000000"] {
        let response = app
            .send(
                "POST",
                "/console/unblock-pin",
                Some("application/x-www-form-urlencoded"),
                form.into(),
                &[("Cookie", &cookie)],
            )
            .await;
        assert_eq!(response.status, 403, "{form}");
        assert!(response.text.contains("not sent from your console session"));
    }
    let page = app.send("GET", "/console/", None, Vec::new(), &[("Cookie", &cookie)]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!page.text.contains("<script>"), "no inline script");

    // Sign out: the pages are closed, also to the old cookie.
    browser.click("sign-out").await;
    browser.wait_for_text("message", "You are signed out").await;
    browser.open(&format!("{base}/console/customer?id={}", ann.id)).await;
    assert!(browser.body().await.contains("Sign in"));
    let closed =
        app.send("GET", &format!("/console/customer?id={}", ann.id), None, Vec::new(), &[("Cookie", &cookie)]).await;
    assert_eq!(closed.status, 401);

    // A session ends after its time (the server's clock, moved on).
    browser.sign_in(&base, &shop.api_key).await;
    browser.open(&format!("{base}/console/customer?id={}", ann.id)).await;
    browser.wait_for_text("pin-state", "Set.").await;
    app.clock.advance(SESSION_SECS - 1);
    browser.client.refresh().await.expect("reload");
    assert!(browser.text("pin-state").await.contains("Set."), "still live a second before the end");
    app.clock.advance(1);
    browser.client.refresh().await.expect("reload");
    browser.wait_for_text("message", "Your session has ended").await;

    // Wrong keys are throttled per client network (2 per window here): then even the right
    // key waits.
    for _ in 0..2 {
        browser.sign_in(&base, "1.00000000000000000000000000000000.00000000000000000000000000000000").await;
        browser.wait_for_text("message", "not valid").await;
    }
    browser.sign_in(&base, &shop.api_key).await;
    browser.wait_for_text("message", "Too many wrong API keys").await;

    browser.client.clone().close().await.expect("browser closes");
    let violations = app.calls.as_ref().map(|calls| calls.take_violations()).unwrap_or_default();
    assert!(violations.is_empty(), "table calls beyond the console's declaration: {violations:#?}");
}

/// The console function's side of the edge: an HTTP API event (the sample in `events/`) reaches
/// the same pages, with its path, query, cookies and the client's address; off loopback, the
/// cookies are `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_function_answers_http_api_events() {
    let app = integration_tests::app::spawn_app(Backend::Sqlite).await;
    let console =
        shared::console::Console::new(app.app.restricted_to(&shared::http::routes::SUPPORT_CONSOLE.needs), None);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sample =
        std::fs::read_to_string(root.join("events/support-console.json")).expect("events/support-console.json");

    // A session cookie the store does not know: the sign-in page says the session ended.
    let request = lambda_http::request::from_str(&sample).expect("an HTTP API event");
    let response = shared::lambda::handle_console(&console, request).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = match response.body() {
        lambda_http::Body::Text(text) => text.clone(),
        other => panic!("a text body, got {other:?}"),
    };
    assert!(body.contains("Your session has ended"), "{body}");

    // The start, without cookies: the sign-in form, its token cookie `Secure` (a public client).
    let mut event: Value = serde_json::from_str(&sample).expect("JSON");
    event["rawPath"] = json!("/console");
    event["rawQueryString"] = json!("");
    event["requestContext"]["http"]["path"] = json!("/console");
    event["routeKey"] = json!("ANY /console");
    event["requestContext"]["routeKey"] = json!("ANY /console");
    event.as_object_mut().expect("object").remove("cookies");
    event.as_object_mut().expect("object").remove("queryStringParameters");
    event.as_object_mut().expect("object").remove("pathParameters");
    let request = lambda_http::request::from_str(&event.to_string()).expect("an HTTP API event");
    let response = shared::lambda::handle_console(&console, request).await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().expect("ASCII");
    assert!(cookie.starts_with("stamps_console_sign_in=") && cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console;"));
}

/// The `value="..."` of the hidden `csrf` input of a page.
fn form_token(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    page[start..].split('"').next().unwrap_or_default().to_string()
}

/// Bad input gets a page that says what is wrong, with a 4xx status, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_4xx_page_never_a_500() {
    let app = integration_tests::app::spawn_app(Backend::Sqlite).await;
    let shop = app.create_merchant("Kopi Kenangan").await;
    let form = "application/x-www-form-urlencoded";

    // Sign in over plain HTTP: the sign-in form's token and its cookie.
    let start = app.send("GET", "/console", None, Vec::new(), &[]).await;
    let sign_in_cookie = start.header("set-cookie").and_then(|c| c.split(';').next()).expect("cookie").to_string();
    let body = format!("csrf={}&api_key={}", form_token(&start.text), shop.api_key);
    let signed =
        app.send("POST", "/console/sign-in", Some(form), body.clone().into(), &[("Cookie", &sign_in_cookie)]).await;
    // reqwest follows the redirect without the new cookie: the start again, signed out.
    assert_eq!(signed.status, 200, "{}", signed.text);
    let wrong = app.send("POST", "/console/sign-in", Some(form), body.into(), &[]).await;
    assert_eq!(wrong.status, 403, "no sign-in cookie, no sign-in");

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let response = client
        .post(format!("{}/console/sign-in", app.url))
        .header("Content-Type", form)
        .header("Cookie", &sign_in_cookie)
        .body(format!("csrf={}&api_key={}", form_token(&start.text), shop.api_key))
        .send()
        .await
        .expect("sign-in");
    assert_eq!(response.status(), 303);
    let session = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("stamps_console="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_string();
    let home = app.send("GET", "/console/", None, Vec::new(), &[("Cookie", &session)]).await;
    let csrf = form_token(&home.text);

    for (path, status, says) in [
        ("/console/customer?id=abc", 400, "Must be a customer ID"),
        ("/console/customer?id=0", 400, "Must be a customer ID"),
        ("/console/customer?id=99999", 400, "No customer of yours matches"),
        ("/console/customer?id=1&before=nope", 400, "earlier page"),
        ("/console/find?user=", 400, "Enter an email"),
        ("/console/find?user=nobody@example.com", 400, "No customer of yours matches"),
        ("/console/template?code=missing", 404, "no such page"),
        ("/console/nothing-here", 404, "no such page"),
    ] {
        let page = app.send("GET", path, None, Vec::new(), &[("Cookie", &session)]).await;
        assert_eq!(page.status, status, "{path}: {}", page.text);
        assert!(page.text.contains(says), "{path}: {}", page.text);
    }
    for (path, body, status, says) in [
        ("/console/send-code", format!("csrf={csrf}&id=1&purpose=pin&channel=sms"), 400, "required"),
        ("/console/send-code", format!("csrf={csrf}&id=1&purpose=nope&template=t"), 400, "Choose a PIN"),
        ("/console/unblock-pin", format!("csrf={csrf}&id=x"), 400, "Must be a customer ID"),
        ("/console/template", format!("csrf={csrf}&code=bad%20code&subject=s&text=t"), 400, "template code"),
        ("/console/template", format!("csrf={csrf}&code=ok&sms=%7B%7B+oops%28"), 400, "does not render"),
    ] {
        let page = app.send("POST", path, Some(form), body.into(), &[("Cookie", &session)]).await;
        assert_eq!(page.status, status, "{path}: {}", page.text);
        assert!(page.text.contains(says), "{path}: {}", page.text);
    }
    assert!(app.store.templates(shop.id).await.expect("templates").is_empty(), "nothing was stored");
    let put = app.send("PUT", "/console/customer", None, Vec::new(), &[("Cookie", &session)]).await;
    assert_eq!(put.status, 405);
}
