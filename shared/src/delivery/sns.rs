//! SNS: publishing `otp.requested` and `password_reset_link.requested` events to the OTP topic, and sending SMS (transactional,
//! to an E.164 number) from the dispatch function.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use super::{DeliveryError, Event, EventPublisher, SmsSender};
use crate::aws::{AwsFailure, classify};

fn delivery_error(failure: AwsFailure) -> DeliveryError {
    match failure {
        AwsFailure::Unavailable(reason) => DeliveryError::Unavailable(reason),
        AwsFailure::Refused { code, message } => DeliveryError::Rejected(format!("SNS: {code}: {message}")),
        AwsFailure::Other(reason) => DeliveryError::Unavailable(reason),
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, DeliveryError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| DeliveryError::Rejected(e.to_string()))
}

/// Publishes events to one topic (`STAMPS_OTP_TOPIC_ARN`).
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: String) -> SnsPublisher {
        SnsPublisher { client, topic_arn }
    }
}

#[async_trait]
impl EventPublisher for SnsPublisher {
    async fn publish(&self, event: &Event) -> Result<(), DeliveryError> {
        let message = serde_json::to_string(event).map_err(|e| DeliveryError::Rejected(e.to_string()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            // Lets subscriptions filter by event type without reading the body.
            .message_attributes("type", string_attribute(event.kind())?)
            .send()
            .await
            .map_err(|e| delivery_error(classify("SNS", &e)))?;
        Ok(())
    }
}

/// Sends SMS through SNS `Publish` to a phone number.
#[derive(Debug, Clone)]
pub struct SnsSms {
    client: Client,
    /// Shown as the sender where the destination country allows it.
    sender_id: Option<String>,
}

impl SnsSms {
    pub fn new(client: Client, sender_id: Option<String>) -> SnsSms {
        SnsSms { client, sender_id }
    }
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send_sms(&self, to: &str, text: &str) -> Result<(), DeliveryError> {
        let mut request = self
            .client
            .publish()
            .phone_number(to)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(sender_id) = &self.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender_id)?);
        }
        request.send().await.map_err(|e| delivery_error(classify("SNS", &e)))?;
        Ok(())
    }
}
