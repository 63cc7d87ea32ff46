//! The pages: minijinja templates (HTML-escaped: `.html`), and what each page does.

use std::collections::HashMap;

use http::StatusCode;
use minijinja::{Environment, Value, context};
use serde_json::json;

use super::{Answer, Console, ConsoleError, ConsoleRequest, HOME, PREFIX, time};
use crate::admin::{self, AdminError, TemplateInput};
use crate::delivery::Channel;
use crate::delivery::render::{self, Rendered};
use crate::domain::otp::OtpPurpose;
use crate::domain::sms;
use crate::error::{ApiError, ErrorCode};
use crate::handlers::customer;
use crate::handlers::otp::{self, TypeField};
use crate::history;
use crate::http::body::Fields;
use crate::store::{Customer, Template, keys};

pub const CSS: &str = include_str!("static/console.css");
pub const JS: &str = include_str!("static/console.js");

/// Events per history page.
const EVENTS_PER_PAGE: u32 = 20;
/// Outbox messages listed.
const OUTBOX_MESSAGES: usize = 20;

pub(crate) struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn new() -> Pages {
        let mut env = Environment::new();
        let templates: [(&str, &str); 9] = [
            ("base.html", include_str!("pages/base.html")),
            ("sign_in.html", include_str!("pages/sign_in.html")),
            ("find.html", include_str!("pages/find.html")),
            ("customer.html", include_str!("pages/customer.html")),
            ("templates.html", include_str!("pages/templates.html")),
            ("template.html", include_str!("pages/template.html")),
            ("outbox.html", include_str!("pages/outbox.html")),
            ("error.html", include_str!("pages/error.html")),
            ("landing.html", include_str!("pages/landing.html")),
        ];
        for (name, source) in templates {
            if let Err(error) = env.add_template(name, source) {
                // The templates are compiled in; a unit test renders every one.
                tracing::error!(%error, name, "console template does not compile");
            }
        }
        env.add_filter("time", |at: i64| {
            Value::from_safe_string(format!("<time datetime=\"{}\">{}</time>", time::rfc3339(at), time::readable(at)))
        });
        Pages { env }
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, ConsoleError> {
        let ctx = context! { prefix => PREFIX, home => HOME, ..ctx };
        self.env.get_template(name).and_then(|template| template.render(ctx)).map_err(|error| {
            tracing::error!(%error, name, "console page did not render");
            ConsoleError::Api(ApiError::internal())
        })
    }
}

/// `/` of the local server: links to the console and the API reference.
pub fn landing() -> String {
    Pages::new().render("landing.html", context! {}).unwrap_or_else(|_| "stamps-auth".into())
}

/// What an error looks like to staff: a sentence, and where to go next.
fn explain(error: &ApiError) -> String {
    match error.code {
        ErrorCode::InvalidUser => "No customer of yours matches that. Check the spelling, or try the email, \
                                   mobile number, member ID or customer ID."
            .into(),
        ErrorCode::ServiceUnavailable => {
            "A service the console needs is unavailable. Nothing was changed; try again in a moment.".into()
        }
        ErrorCode::InternalError => "Something went wrong on our side. Nothing was changed; try again.".into(),
        _ => error.detail(),
    }
}

fn session_context(session: &super::session::Session) -> Value {
    context! { merchant_id => session.merchant_id, csrf => session.csrf_token.clone() }
}

fn user_fields(user: serde_json::Value) -> Fields {
    let mut map = serde_json::Map::new();
    map.insert("user".into(), user);
    Fields::from_map(map)
}

fn customer_id(form: &HashMap<String, String>) -> Result<u64, ConsoleError> {
    form.get("id")
        .and_then(|id| id.trim().parse::<u64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| ConsoleError::Api(ApiError::invalid("id", "Must be a customer ID.")))
}

fn customer_json(customer: &Customer) -> serde_json::Value {
    json!({
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "mobile": customer.mobile,
        "member_id": customer.member_id,
        "has_password": customer.password_hash.is_some(),
    })
}

/// What a template looks like rendered with the sample values.
fn preview(template: &Template) -> serde_json::Value {
    let mut out = json!({});
    if template.subject.is_some() || template.text.is_some() || template.html.is_some() {
        match render::preview(template, Channel::Email) {
            Ok(Rendered::Email(email)) => {
                out["email"] = json!({"subject": email.subject, "text": email.text, "html": email.html});
            }
            Ok(Rendered::Sms { .. }) => {}
            Err(error) => out["email_error"] = json!(error.to_string()),
        }
    }
    if template.sms.is_some() {
        match render::preview(template, Channel::Sms) {
            Ok(Rendered::Sms { text, .. }) => {
                let length = sms::length(&text);
                out["sms"] = json!({
                    "text": text,
                    "characters": length.characters,
                    "encoding": length.encoding.as_str(),
                    "units": length.units,
                    "segments": length.segments,
                });
            }
            Ok(Rendered::Email(_)) => {}
            Err(error) => out["sms_error"] = json!(error.to_string()),
        }
    }
    out
}

fn form_text(form: &HashMap<String, String>, name: &str) -> Option<String> {
    // Browsers send CR LF line ends; the API's templates use LF.
    form.get(name).map(|text| text.replace("\r\n", "\n")).filter(|text| !text.trim().is_empty())
}

impl Console {
    pub(crate) fn error_page(&self, error: &ConsoleError) -> Answer {
        let (status, message) = match error {
            ConsoleError::SignedOut { ended } => {
                let message = ended.then_some("Your session has ended. Sign in again.");
                let status = StatusCode::UNAUTHORIZED;
                return self.sign_in_error(status, message);
            }
            ConsoleError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form was not sent from your console session (it may have expired). Reload the page and try \
                 again."
                    .to_string(),
            ),
            ConsoleError::NotFound => (StatusCode::NOT_FOUND, "There is no such page in the console.".to_string()),
            ConsoleError::Api(error) => (error.status(), explain(error)),
        };
        let body = self
            .pages
            .render("error.html", context! { message => message, status => status.as_u16() })
            .unwrap_or_else(|_| message.clone());
        Answer::html(status, body)
    }

    /// The sign-in page for an error: no request at hand, so no fresh sign-in token (the page
    /// links to the console's start, which has one).
    fn sign_in_error(&self, status: StatusCode, message: Option<&str>) -> Answer {
        let body = self
            .pages
            .render("sign_in.html", context! { message => message, expired => true })
            .unwrap_or_else(|_| "Sign in again.".into());
        Answer::html(status, body)
    }

    /// `GET /console/`: the finder when signed in, else the sign-in form.
    pub(crate) async fn home(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        match self.session(request).await? {
            Some(session) => {
                let body = self.pages.render("find.html", context! { ..session_context(&session) })?;
                Ok(Answer::html(StatusCode::OK, body))
            }
            None => {
                let signed_out = request.query().contains_key("signed_out");
                self.sign_in_page(request, StatusCode::OK, signed_out.then_some("You are signed out."))
            }
        }
    }

    /// `GET find?user=`: the customer by email, mobile (any format the API takes), member ID
    /// or ID, as the API's `user` field.
    pub(crate) async fn find(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let session = self.signed_in(request).await?;
        let user = request.query().get("user").map(|u| u.trim().to_string()).unwrap_or_default();
        let page = |status: StatusCode, message: String| -> Result<Answer, ConsoleError> {
            let ctx = context! { user => user.clone(), message => message, ..session_context(&session) };
            Ok(Answer::html(status, self.pages.render("find.html", ctx)?))
        };
        if user.is_empty() {
            return page(StatusCode::BAD_REQUEST, "Enter an email, mobile number, member ID or customer ID.".into());
        }
        match customer::resolve(&self.app, session.merchant_id, &user_fields(json!(user)), "user").await {
            Ok(found) => Ok(Answer::redirect(format!("{PREFIX}customer?id={}", found.id))),
            Err(error) => page(error.status(), explain(&error)),
        }
    }

    async fn customer_of(&self, merchant_id: u64, id: u64) -> Result<Customer, ConsoleError> {
        Ok(customer::resolve(&self.app, merchant_id, &user_fields(json!(id)), "user").await?)
    }

    /// `GET customer?id=&before=`: the status, the actions and the history, newest first.
    pub(crate) async fn customer(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let session = self.signed_in(request).await?;
        let query = request.query();
        let id = customer_id(&query)?;
        let before = query.get("before").filter(|b| !b.is_empty()).cloned();
        if before.as_deref().is_some_and(|b| !history::is_id(b)) {
            return Err(ApiError::invalid("before", "Must be the \"next\" value of an earlier page.").into());
        }
        let found = self.customer_of(session.merchant_id, id).await?;
        let store = self.app.store()?;
        let (status, page, templates) = tokio::join!(
            crate::status::customer_status(&self.app, &found),
            history::page(&self.app, session.merchant_id, id, EVENTS_PER_PAGE, before.as_deref()),
            store.templates(session.merchant_id),
        );
        let (status, page, templates) = (status?, page?, templates?);
        let events: Vec<serde_json::Value> = page.events.iter().map(history::to_json).collect();
        let template_codes: Vec<&str> = templates.iter().map(|t| t.code.as_str()).collect();
        let done = query.get("done").map(|done| match done.as_str() {
            "pin-unblocked" => "The PIN is unblocked: the customer has all their attempts again.",
            "otp-limit-reset" => "The code limit is reset: the customer can request codes again.",
            "code-sent" => "A reset code is on its way to the customer. It is not shown here.",
            _ => "Done.",
        });
        let ctx = context! {
            customer => Value::from_serialize(customer_json(&found)),
            status => Value::from_serialize(&status),
            events => Value::from_serialize(&events),
            next => page.next,
            before => before,
            templates => template_codes,
            done => done,
            now => self.app.clock.now(),
            ..session_context(&session)
        };
        Ok(Answer::html(StatusCode::OK, self.pages.render("customer.html", ctx)?))
    }

    /// `POST unblock-pin` `{id}`: as `POST /api/pin/unblock`.
    pub(crate) async fn unblock_pin(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let form = request.form();
        let session = self.signed_in_form(request, &form).await?;
        let found = self.customer_of(session.merchant_id, customer_id(&form)?).await?;
        crate::handlers::pin::clear_block(&self.app, session.merchant_id, found.id).await?;
        Ok(Answer::redirect(format!("{PREFIX}customer?id={}&done=pin-unblocked", found.id)))
    }

    /// `POST reset-otp-limit` `{id}`: as `POST /api/auth/reset-otp-limit`.
    pub(crate) async fn reset_otp_limit(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let form = request.form();
        let session = self.signed_in_form(request, &form).await?;
        let found = self.customer_of(session.merchant_id, customer_id(&form)?).await?;
        self.app.store()?.clear_counter(&keys::otp_requests(session.merchant_id, found.id)).await?;
        Ok(Answer::redirect(format!("{PREFIX}customer?id={}&done=otp-limit-reset", found.id)))
    }

    /// `POST send-code` `{id, purpose, channel, template}`: as the request-otp routes with a
    /// template: the code is delivered and never shown here.
    pub(crate) async fn send_code(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let form = request.form();
        let session = self.signed_in_form(request, &form).await?;
        let id = customer_id(&form)?;
        let purpose = match form.get("purpose").map(String::as_str) {
            Some("pin") => OtpPurpose::PinReset,
            Some("password") => OtpPurpose::PasswordReset,
            _ => return Err(ApiError::invalid("purpose", "Choose a PIN or a password reset code.").into()),
        };
        let template = form.get("template").map(|t| t.trim()).filter(|t| !t.is_empty());
        let Some(template) = template else {
            return Err(ApiError::required("template").into());
        };
        let mut map = serde_json::Map::new();
        map.insert("user".into(), json!(id));
        map.insert("type".into(), json!(form.get("channel").cloned().unwrap_or_default()));
        map.insert("template_code".into(), json!(template));
        // The reply holds the code: dropped here, so staff never see it.
        otp::request(&self.app, session.merchant_id, &Fields::from_map(map), "user", purpose, TypeField::Required)
            .await?;
        Ok(Answer::redirect(format!("{PREFIX}customer?id={id}&done=code-sent")))
    }

    /// `GET templates`: the merchant's templates.
    pub(crate) async fn templates(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let session = self.signed_in(request).await?;
        let templates = self.app.store()?.templates(session.merchant_id).await?;
        let ctx = context! { templates => Value::from_serialize(&templates), ..session_context(&session) };
        Ok(Answer::html(StatusCode::OK, self.pages.render("templates.html", ctx)?))
    }

    fn template_page(
        &self,
        session: &super::session::Session,
        template: &Template,
        is_new: bool,
        status: StatusCode,
        message: Option<String>,
        saved: bool,
    ) -> Result<Answer, ConsoleError> {
        let ctx = context! {
            template => Value::from_serialize(template),
            is_new => is_new,
            preview => Value::from_serialize(preview(template)),
            message => message,
            saved => saved,
            ..session_context(session)
        };
        Ok(Answer::html(status, self.pages.render("template.html", ctx)?))
    }

    /// `GET template?code=`: the editor, with the preview; without `code`, a new template.
    pub(crate) async fn template(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let session = self.signed_in(request).await?;
        let query = request.query();
        let code = query.get("code").map(|c| c.trim()).filter(|c| !c.is_empty());
        let (template, is_new) = match code {
            None => (empty_template(session.merchant_id), true),
            Some(code) => match self.app.store()?.template(session.merchant_id, code).await? {
                Some(template) => (template, false),
                None => return Err(ConsoleError::NotFound),
            },
        };
        self.template_page(&session, &template, is_new, StatusCode::OK, None, query.contains_key("saved"))
    }

    fn template_from_form(&self, merchant_id: u64, form: &HashMap<String, String>) -> Template {
        Template {
            merchant_id,
            code: form.get("code").map(|c| c.trim().to_string()).unwrap_or_default(),
            subject: form_text(form, "subject"),
            text: form_text(form, "text"),
            html: form_text(form, "html"),
            sms: form_text(form, "sms"),
            updated_at: self.app.clock.now(),
        }
    }

    /// `POST template`: stores it, with the checks of `stamps-auth template put`.
    pub(crate) async fn save_template(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let form = request.form();
        let session = self.signed_in_form(request, &form).await?;
        let template = self.template_from_form(session.merchant_id, &form);
        let input = TemplateInput {
            merchant: session.merchant_id,
            code: template.code.clone(),
            subject: template.subject.clone(),
            text: template.text.clone(),
            html: template.html.clone(),
            sms: template.sms.clone(),
        };
        let is_new = form.contains_key("is_new");
        match admin::put_template(&self.app, input).await {
            Ok(saved) => Ok(Answer::redirect(format!("{PREFIX}template?code={}&saved=1", saved.code))),
            Err(AdminError::Invalid(message)) => {
                self.template_page(&session, &template, is_new, StatusCode::BAD_REQUEST, Some(message), false)
            }
            Err(error) => {
                tracing::error!(%error, "console could not store a template");
                Err(ApiError::service_unavailable().into())
            }
        }
    }

    /// `POST template/preview`: the preview of the form's template, as JSON for the page's
    /// script, or the editor again (without script).
    pub(crate) async fn preview_template(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let form = request.form();
        let session = self.signed_in_form(request, &form).await?;
        let template = self.template_from_form(session.merchant_id, &form);
        if request.wants_json() {
            return Ok(Answer::json(StatusCode::OK, &preview(&template)));
        }
        self.template_page(&session, &template, form.contains_key("is_new"), StatusCode::OK, None, false)
    }

    /// `GET outbox`: the local server's last messages (deployed there is no outbox).
    pub(crate) async fn outbox(&self, request: &ConsoleRequest) -> Result<Answer, ConsoleError> {
        let session = self.signed_in(request).await?;
        let Some(dir) = &self.outbox else {
            return Err(ConsoleError::NotFound);
        };
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(Result::ok).map(|entry| entry.path()).collect())
            .unwrap_or_default();
        files.sort();
        files.reverse();
        let messages: Vec<serde_json::Value> = files
            .iter()
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .take(OUTBOX_MESSAGES)
            .filter_map(|path| std::fs::read(path).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        let ctx = context! {
            messages => Value::from_serialize(&messages),
            dir => dir.display().to_string(),
            ..session_context(&session)
        };
        Ok(Answer::html(StatusCode::OK, self.pages.render("outbox.html", ctx)?))
    }
}

fn empty_template(merchant_id: u64) -> Template {
    Template {
        merchant_id,
        code: String::new(),
        subject: Some("Your code".into()),
        text: Some("Hi {{ name }}, your code is {{ otp }}. It expires in {{ expires_in_minutes }} minutes.".into()),
        html: None,
        sms: Some("{{ otp }} is your code".into()),
        updated_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("pages/base.html")),
            ("sign_in.html", include_str!("pages/sign_in.html")),
            ("customer.html", include_str!("pages/customer.html")),
            ("template.html", include_str!("pages/template.html")),
        ] {
            if let Err(error) = env.add_template(name, source) {
                panic!("{name}: {error:#}");
            }
        }
    }

    #[test]
    fn every_page_renders() {
        let pages = Pages::new();
        let session = context! { merchant_id => 1, csrf => "t" };
        for name in ["sign_in.html", "find.html", "templates.html", "outbox.html", "error.html", "landing.html"] {
            let ctx = context! { prefix => PREFIX, ..session.clone() };
            if let Err(error) = pages.env.get_template(name).and_then(|t| t.render(ctx)) {
                panic!("{name}: {error:#}");
            }
        }
    }

    #[test]
    fn the_preview_counts_sms_segments() {
        let mut template = empty_template(1);
        template.sms = Some("Kode {{ otp }} ✓".into());
        let out = preview(&template);
        assert_eq!(out["sms"]["encoding"], "UCS-2");
        assert_eq!(out["sms"]["text"], "Kode 123456 ✓");
        assert_eq!(out["email"]["subject"], "Your code");
        template.text = Some("{{ oops(".into());
        assert!(preview(&template)["email_error"].is_string());
    }
}
