//! SES (v2 API): sending OTP emails from the dispatch function.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{DeliveryError, EmailMessage, EmailSender};
use crate::aws::{AwsFailure, classify};

/// Sends from one verified address (`STAMPS_EMAIL_FROM`).
#[derive(Debug, Clone)]
pub struct SesEmail {
    client: Client,
    from: String,
}

impl SesEmail {
    pub fn new(client: Client, from: String) -> SesEmail {
        SesEmail { client, from }
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
        self.client
            .send_email()
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
