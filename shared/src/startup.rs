//! A function's start-up: the adapters of the ports its route declares, each built once per
//! process, and nothing else. A declared port that cannot be built stops start-up with a
//! message that says why: its setting is missing, or the binary was built without the cargo
//! feature that links its adapter (a function links only the clients it uses).

use std::sync::Arc;

use crate::app::{Ports, StartError};
use crate::config::Config;
use crate::delivery::{EmailSender, SmsSender};
use crate::needs::{Needs, Port};

/// What start-up built: the `App`'s ports, and the senders of the dispatch function.
#[derive(Default)]
pub struct Adapters {
    pub ports: Ports,
    pub email: Option<Arc<dyn EmailSender>>,
    pub sms: Option<Arc<dyn SmsSender>>,
}

/// Builds the adapter of every port `needs` declares, from `config` and the process
/// environment.
pub fn adapters(function: &str, needs: &Needs, config: &Config) -> Result<Adapters, StartError> {
    let mut build = Build {
        function,
        config,
        #[cfg(feature = "aws")]
        sdk: None,
    };
    let mut built = Adapters::default();
    for port in needs.ports.iter().copied() {
        match port {
            Port::Store => built.ports.store = Some(build.store()?),
            Port::Publisher => built.ports.publisher = Some(build.publisher()?),
            Port::Facebook => built.ports.facebook = build.facebook()?,
            Port::Email => built.email = Some(build.email()?),
            Port::Sms => built.sms = Some(build.sms()?),
        }
    }
    Ok(built)
}

struct Build<'a> {
    function: &'a str,
    #[cfg_attr(not(any(feature = "dynamodb", feature = "facebook")), allow(dead_code))]
    config: &'a Config,
    /// The AWS SDK's configuration, made for the first AWS port and shared by the others.
    #[cfg(feature = "aws")]
    sdk: Option<aws_types::SdkConfig>,
}

impl Build<'_> {
    /// `port` is declared, but its adapter is not in this binary.
    #[cfg_attr(all(feature = "dynamodb", feature = "sns", feature = "ses", feature = "facebook"), allow(dead_code))]
    fn unlinked(&self, port: Port) -> StartError {
        StartError::Port(format!(
            "{function} declares {port:?}, but was built without shared's \"{feature}\" feature: add it to \
             functions/{function}/Cargo.toml",
            function = self.function,
            feature = port.feature(),
        ))
    }

    /// A setting the port needs, from the process environment.
    #[cfg_attr(not(any(feature = "sns", feature = "ses")), allow(dead_code))]
    fn setting(&self, port: Port, name: &str) -> Result<String, StartError> {
        std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).ok_or_else(|| {
            StartError::Port(format!("{name} is not set: {} declares {port:?}, which needs it", self.function))
        })
    }

    #[cfg(feature = "aws")]
    fn sdk(&mut self) -> Result<&aws_types::SdkConfig, StartError> {
        if self.sdk.is_none() {
            self.sdk = Some(crate::aws::lambda_sdk_config(self.config.aws_timeout).map_err(StartError::Port)?);
        }
        self.sdk.as_ref().ok_or_else(|| StartError::Port("the AWS SDK configuration".into()))
    }

    #[cfg(feature = "dynamodb")]
    fn store(&mut self) -> Result<Arc<dyn crate::store::Store>, StartError> {
        use crate::store::StoreUrl;
        let table = match StoreUrl::parse(&self.config.store_url).map_err(StartError::Port)? {
            StoreUrl::DynamoDb(table) => table,
            StoreUrl::Sqlite(_) => {
                return Err(StartError::Port(format!("{} needs STAMPS_STORE=dynamodb:TABLE", self.function)));
            }
        };
        let client = aws_sdk_dynamodb::Client::new(self.sdk()?);
        Ok(Arc::new(crate::store::dynamodb::DynamoStore::new(client, table)))
    }

    #[cfg(not(feature = "dynamodb"))]
    fn store(&mut self) -> Result<Arc<dyn crate::store::Store>, StartError> {
        Err(self.unlinked(Port::Store))
    }

    #[cfg(feature = "sns")]
    fn publisher(&mut self) -> Result<Arc<dyn crate::delivery::EventPublisher>, StartError> {
        let topic = self.setting(Port::Publisher, "STAMPS_OTP_TOPIC_ARN")?;
        let client = aws_sdk_sns::Client::new(self.sdk()?);
        Ok(Arc::new(crate::delivery::sns::SnsPublisher::new(client, topic)))
    }

    #[cfg(not(feature = "sns"))]
    fn publisher(&mut self) -> Result<Arc<dyn crate::delivery::EventPublisher>, StartError> {
        Err(self.unlinked(Port::Publisher))
    }

    /// The Graph API client of the configured Facebook app, or none when no app is configured
    /// (its HTTP client is made on the first check, not here).
    #[cfg(feature = "facebook")]
    fn facebook(&mut self) -> Result<Option<Arc<dyn crate::facebook::FacebookVerifier>>, StartError> {
        Ok(crate::facebook::GraphApi::from_config(self.config)
            .map(|graph| Arc::new(graph) as Arc<dyn crate::facebook::FacebookVerifier>))
    }

    #[cfg(not(feature = "facebook"))]
    fn facebook(&mut self) -> Result<Option<Arc<dyn crate::facebook::FacebookVerifier>>, StartError> {
        Err(self.unlinked(Port::Facebook))
    }

    #[cfg(feature = "ses")]
    fn email(&mut self) -> Result<Arc<dyn EmailSender>, StartError> {
        let from = self.setting(Port::Email, "STAMPS_EMAIL_FROM")?;
        // Optional: without it SES reports no delivery outcome (docs/api.md section 11.4).
        let configuration_set = self.setting(Port::Email, "STAMPS_SES_CONFIGURATION_SET").ok();
        let client = aws_sdk_sesv2::Client::new(self.sdk()?);
        Ok(Arc::new(crate::delivery::ses::SesEmail::new(client, from).with_configuration_set(configuration_set)))
    }

    #[cfg(not(feature = "ses"))]
    fn email(&mut self) -> Result<Arc<dyn EmailSender>, StartError> {
        Err(self.unlinked(Port::Email))
    }

    /// SMS through SNS; the sender ID is optional.
    #[cfg(feature = "sns")]
    fn sms(&mut self) -> Result<Arc<dyn SmsSender>, StartError> {
        let sender_id = self.setting(Port::Sms, "STAMPS_SMS_SENDER_ID").ok();
        let client = aws_sdk_sns::Client::new(self.sdk()?);
        Ok(Arc::new(crate::delivery::sns::SnsSms::new(client, sender_id)))
    }

    #[cfg(not(feature = "sns"))]
    fn sms(&mut self) -> Result<Arc<dyn SmsSender>, StartError> {
        Err(self.unlinked(Port::Sms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::needs::TableAccess;

    fn config() -> Config {
        Config::from_lookup(|_| None).expect("defaults")
    }

    #[test]
    fn no_port_builds_nothing() {
        let needs = Needs { memory_mb: 128, ports: &[], secrets: &[], table: TableAccess::NONE };
        let built = adapters("token-verify", &needs, &config()).expect("nothing to build");
        assert!(built.ports.store.is_none() && built.ports.publisher.is_none() && built.email.is_none());
    }

    #[test]
    fn a_port_without_its_feature_stops_start_up_naming_the_feature() {
        let config = config();
        let build = Build {
            function: "pin-validate",
            config: &config,
            #[cfg(feature = "aws")]
            sdk: None,
        };
        for port in [Port::Store, Port::Publisher, Port::Facebook, Port::Email, Port::Sms] {
            let error = build.unlinked(port).to_string();
            assert!(error.contains(port.feature()) && error.contains("functions/pin-validate/Cargo.toml"), "{error}");
        }
    }

    /// Built without an adapter (`cargo test -p shared` alone), declaring its port is refused.
    #[cfg(not(feature = "dynamodb"))]
    #[test]
    fn a_declared_store_without_the_dynamodb_feature_is_refused() {
        let needs = Needs { memory_mb: 128, ports: &[Port::Store], secrets: &[], table: TableAccess::NONE };
        let error = adapters("pin-validate", &needs, &config()).err().expect("refused").to_string();
        assert!(error.contains("\"dynamodb\" feature"), "{error}");
    }
}
