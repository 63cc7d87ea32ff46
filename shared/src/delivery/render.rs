//! Rendering a merchant's template for one event with minijinja. The placeholders are
//! `{{ otp }}`, `{{ name }}` and `{{ expires_in_minutes }}`; the HTML body is rendered with
//! HTML escaping on, so a customer's name can never inject markup. Templates are written by
//! operators, but rendering is still bounded (fuel) so a runaway loop cannot stall dispatch.

use minijinja::{Environment, UndefinedBehavior, context};

use super::{Channel, EmailMessage, OtpRequested};
use crate::store::Template;

/// Instructions a template may run: plenty for any message, far from a stall.
const FUEL: u64 = 50_000;

/// What a rendered event becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    Email(EmailMessage),
    Sms { to: String, text: String },
}

/// Why a template cannot produce the event's message; retrying will not help.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {code:?} has no {part} for {channel} messages")]
    Missing { code: String, part: &'static str, channel: &'static str },
    #[error("template {code:?} ({part}) does not render: {reason}")]
    Broken { code: String, part: &'static str, reason: String },
}

/// Renders `template` for `event`, whose expiry is measured from the event's request time.
pub fn render(template: &Template, event: &OtpRequested) -> Result<Rendered, RenderError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    let minutes = ((event.expires_at - event.requested_at).max(0) + 59) / 60;
    let ctx = context! { otp => event.otp.0.as_str(), name => event.name.as_str(), expires_in_minutes => minutes };
    let part = |name: &'static str, source: &Option<String>| -> Result<Option<String>, RenderError> {
        let Some(source) = source else { return Ok(None) };
        // The name's extension picks the escaping: `.html` escapes, `.txt` does not.
        env.render_named_str(name, source, &ctx).map(Some).map_err(|e| RenderError::Broken {
            code: template.code.clone(),
            part: name,
            reason: e.to_string(),
        })
    };
    let missing = |part| RenderError::Missing { code: template.code.clone(), part, channel: event.channel.as_str() };
    match event.channel {
        Channel::Email => {
            let subject = part("subject.txt", &template.subject)?.ok_or_else(|| missing("subject"))?;
            let text = part("body.txt", &template.text)?;
            let html = part("body.html", &template.html)?;
            let text = match (text, &html) {
                (Some(text), _) => text,
                (None, Some(_)) => String::new(),
                (None, None) => return Err(missing("text or HTML body")),
            };
            // A subject is one line.
            let subject = subject.lines().next().unwrap_or_default().trim().to_string();
            Ok(Rendered::Email(EmailMessage {
                to: event.destination.clone(),
                subject,
                text,
                html,
                tags: super::outcomes::tags(event),
            }))
        }
        Channel::Sms => {
            let text = part("sms.txt", &template.sms)?.ok_or_else(|| missing("SMS text"))?;
            Ok(Rendered::Sms { to: event.destination.clone(), text })
        }
    }
}

/// An event of `channel` with sample values (code 123456 valid 10 minutes, name "Customer").
fn sample(template: &Template, channel: Channel) -> OtpRequested {
    OtpRequested {
        kind: super::EVENT_TYPE.into(),
        version: super::EVENT_VERSION,
        event_id: "0".repeat(32),
        merchant_id: template.merchant_id,
        customer_id: 1,
        purpose: crate::domain::otp::OtpPurpose::PinReset,
        channel,
        destination: "customer@example.com".into(),
        name: "Customer".into(),
        template_code: template.code.clone(),
        otp: super::Redacted("123456".into()),
        expires_at: 600,
        requested_at: 0,
    }
}

/// `template` rendered for `channel` with the sample values: the support console's preview.
pub fn preview(template: &Template, channel: Channel) -> Result<Rendered, RenderError> {
    render(template, &sample(template, channel))
}

/// Checks that every part of `template` renders, with sample values: a template with a typo
/// is refused when it is stored, not when a customer waits for a code.
pub fn validate(template: &Template) -> Result<(), RenderError> {
    if template.subject.is_some() || template.text.is_some() || template.html.is_some() {
        preview(template, Channel::Email)?;
    }
    if template.sms.is_some() {
        preview(template, Channel::Sms)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{OtpDelivery, Redacted};
    use crate::domain::otp::OtpPurpose;

    fn event(channel: Channel, name: &str) -> OtpRequested {
        let mut event = OtpRequested::new(OtpDelivery {
            merchant_id: 1,
            customer_id: 2,
            purpose: OtpPurpose::PinReset,
            channel,
            destination: "ann@example.com".into(),
            name: name.into(),
            template_code: "reset".into(),
            otp: "012345".into(),
            expires_at: 1_000_600,
            requested_at: 1_000_000,
        })
        .expect("random");
        event.otp = Redacted("012345".into());
        event
    }

    fn template() -> Template {
        Template {
            merchant_id: 1,
            code: "reset".into(),
            subject: Some("Your code {{ otp }}".into()),
            text: Some("Hi {{ name }}, {{ otp }} works {{ expires_in_minutes }} min.".into()),
            html: Some("<p>Hi {{ name }}, <b>{{ otp }}</b></p>".into()),
            sms: Some("{{ otp }} is your code".into()),
            updated_at: 0,
        }
    }

    #[test]
    fn email_fills_every_placeholder_and_escapes_only_html() {
        let Rendered::Email(email) = render(&template(), &event(Channel::Email, "<Ann & Co>")).expect("renders") else {
            panic!("an email")
        };
        assert_eq!(email.subject, "Your code 012345");
        assert_eq!(email.text, "Hi <Ann & Co>, 012345 works 10 min.");
        assert_eq!(email.html.as_deref(), Some("<p>Hi &lt;Ann &amp; Co&gt;, <b>012345</b></p>"));
        assert_eq!(email.to, "ann@example.com");
    }

    #[test]
    fn sms_uses_the_sms_text() {
        let rendered = render(&template(), &event(Channel::Sms, "Ann")).expect("renders");
        assert_eq!(rendered, Rendered::Sms { to: "ann@example.com".into(), text: "012345 is your code".into() });
    }

    #[test]
    fn missing_parts_and_broken_templates_are_errors_not_panics() {
        let no_sms = Template { sms: None, ..template() };
        assert!(matches!(render(&no_sms, &event(Channel::Sms, "Ann")), Err(RenderError::Missing { .. })));
        let broken = Template { subject: Some("{{ otp ".into()), ..template() };
        assert!(matches!(render(&broken, &event(Channel::Email, "Ann")), Err(RenderError::Broken { .. })));
        let unknown = Template { subject: Some("{{ password }}".into()), ..template() };
        assert!(matches!(render(&unknown, &event(Channel::Email, "Ann")), Err(RenderError::Broken { .. })));
        let runaway = Template { text: Some("{% for i in range(100000) %}{{ i }}{% endfor %}".into()), ..template() };
        assert!(matches!(render(&runaway, &event(Channel::Email, "Ann")), Err(RenderError::Broken { .. })));
    }

    #[test]
    fn builtin_forgot_password_renders_for_email() {
        let template = crate::delivery::builtin("forgot_password").expect("built in");
        assert!(matches!(render(&template, &event(Channel::Email, "Ann")), Ok(Rendered::Email(_))));
        assert!(crate::delivery::builtin("nope").is_none());
    }
}
