//! SES (v2 API): sending OTP emails from the dispatch function.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};

use super::{DeliveryError, EmailMessage, EmailSender};
use crate::aws::{AwsFailure, classify};

/// Sends from one verified address (`STAMPS_EMAIL_FROM`), through the configuration set whose
/// delivery, bounce and complaint events reach the `delivery-events` function
/// (`STAMPS_SES_CONFIGURATION_SET`), with the message's tags.
#[derive(Debug, Clone)]
pub struct SesEmail {
    client: Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesEmail {
    pub fn new(client: Client, from: String) -> SesEmail {
        SesEmail { client, from, configuration_set: None }
    }

    pub fn with_configuration_set(mut self, name: Option<String>) -> SesEmail {
        self.configuration_set = name;
        self
    }
}

fn content(text: &str) -> Result<Content, DeliveryError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|e| DeliveryError::Rejected(e.to_string()))
}

#[async_trait]
impl EmailSender for SesEmail {
    async fn send_email(&self, message: &EmailMessage) -> Result<(), DeliveryError> {
        let mut body = Body::builder().text(content(&message.text)?);
        if let Some(html) = &message.html {
            body = body.html(content(html)?);
        }
        let email = Message::builder().subject(content(&message.subject)?).body(body.build()).build();
        let tags = message
            .tags
            .iter()
            .map(|(name, value)| {
                MessageTag::builder()
                    .name(*name)
                    .value(value)
                    .build()
                    .map_err(|e| DeliveryError::Rejected(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.client
            .send_email()
            .set_configuration_set_name(self.configuration_set.clone())
            .set_email_tags((!tags.is_empty()).then_some(tags))
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(EmailContent::builder().simple(email).build())
            .send()
            .await
            .map_err(|e| match classify("SES", &e) {
                AwsFailure::Unavailable(reason) | AwsFailure::Other(reason) => DeliveryError::Unavailable(reason),
                AwsFailure::Refused { code, message } => DeliveryError::Rejected(format!("SES: {code}: {message}")),
            })?;
        Ok(())
    }
}
