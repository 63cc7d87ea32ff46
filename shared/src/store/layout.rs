//! Where each record lives in the DynamoDB table, by the prefix of its partition key `pk` (the
//! item layout is drawn in `dynamodb.rs`). The DynamoDB adapter builds every key from these
//! prefixes; the route table names the partitions each function touches, and IAM grants each
//! function its partitions only (`dynamodb:LeadingKeys` in `template.yaml`, checked against the
//! route table by `tests/tests/deployment.rs`). Kept free of the AWS SDK so the route table can
//! name partitions in every build.

/// A family of items that share a partition-key prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Partition {
    /// Local settings (generated keys of the local server).
    Setting,
    /// ID sequences.
    Sequence,
    /// A merchant and its message templates.
    Merchant,
    /// A merchant's API key, by its keyed hash.
    ApiKey,
    /// A customer, its PIN, its one-time codes, its security events and its deliveries (last
    /// outcome, suppressed addresses).
    Customer,
    /// A claim on a customer's unique field (email, mobile, member ID, Facebook ID).
    Unique,
    /// Windowed counters of one kind.
    Counter(CounterKind),
    /// A mobile app API v2 key, by its keyed hash.
    AppKey,
    /// A delivery's de-duplication mark.
    Delivery,
    /// A support-console session, by the keyed hash of its ID.
    Session,
}

/// The kinds of counter, each under a key prefix of its own (`store::keys`), so a function can
/// be given the counters it uses and no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CounterKind {
    /// Password failures, of known customers and of unknown identifiers.
    PasswordFailures,
    /// OTP requests per customer.
    OtpRequests,
    /// v2 reset emails per customer (the anonymous route's own limit).
    ResetEmails,
    /// Failed v2 logins per client network.
    NetworkLoginFailures,
    /// v2 registrations per client network.
    NetworkRegistrations,
    /// v2 `forgot_password` requests per client network.
    NetworkResetRequests,
}

/// The prefix of every counter's partition key; the counter's key follows.
pub const COUNTER_PREFIX: &str = "COUNTER#";

impl CounterKind {
    pub const ALL: [CounterKind; 6] = [
        CounterKind::PasswordFailures,
        CounterKind::OtpRequests,
        CounterKind::ResetEmails,
        CounterKind::NetworkLoginFailures,
        CounterKind::NetworkRegistrations,
        CounterKind::NetworkResetRequests,
    ];

    /// The start of every counter key of this kind (`store::keys`).
    pub const fn key_prefix(self) -> &'static str {
        match self {
            CounterKind::PasswordFailures => "pwfail#",
            CounterKind::OtpRequests => "otpreq#",
            CounterKind::ResetEmails => "resetmail#",
            CounterKind::NetworkLoginFailures => "ip#login-failures#",
            CounterKind::NetworkRegistrations => "ip#registrations#",
            CounterKind::NetworkResetRequests => "ip#reset-requests#",
        }
    }
}

impl Partition {
    /// The start of every partition key of this family.
    pub const fn prefix(self) -> &'static str {
        match self {
            Partition::Setting => "SETTING#",
            Partition::Sequence => "SEQUENCE#",
            Partition::Merchant => "MERCHANT#",
            Partition::ApiKey => "APIKEY#",
            Partition::Customer => "CUSTOMER#",
            Partition::Unique => "UNIQUE#",
            // COUNTER_PREFIX followed by the kind's key prefix (a unit test holds them together).
            Partition::Counter(CounterKind::PasswordFailures) => "COUNTER#pwfail#",
            Partition::Counter(CounterKind::OtpRequests) => "COUNTER#otpreq#",
            Partition::Counter(CounterKind::ResetEmails) => "COUNTER#resetmail#",
            Partition::Counter(CounterKind::NetworkLoginFailures) => "COUNTER#ip#login-failures#",
            Partition::Counter(CounterKind::NetworkRegistrations) => "COUNTER#ip#registrations#",
            Partition::Counter(CounterKind::NetworkResetRequests) => "COUNTER#ip#reset-requests#",
            Partition::AppKey => "APPKEY#",
            Partition::Delivery => "DELIVERY#",
            Partition::Session => "SESSION#",
        }
    }

    /// Whether the partition key `pk` belongs to this family.
    pub fn holds(self, pk: &str) -> bool {
        pk.starts_with(self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Partition; 15] = [
        Partition::Setting,
        Partition::Sequence,
        Partition::Merchant,
        Partition::ApiKey,
        Partition::Customer,
        Partition::Unique,
        Partition::Counter(CounterKind::PasswordFailures),
        Partition::Counter(CounterKind::OtpRequests),
        Partition::Counter(CounterKind::ResetEmails),
        Partition::Counter(CounterKind::NetworkLoginFailures),
        Partition::Counter(CounterKind::NetworkRegistrations),
        Partition::Counter(CounterKind::NetworkResetRequests),
        Partition::AppKey,
        Partition::Delivery,
        Partition::Session,
    ];

    #[test]
    fn a_counter_partition_is_the_counter_prefix_and_its_kind() {
        for kind in CounterKind::ALL {
            assert_eq!(Partition::Counter(kind).prefix(), format!("{COUNTER_PREFIX}{}", kind.key_prefix()));
        }
    }

    #[test]
    fn no_prefix_is_the_start_of_another() {
        for a in ALL {
            for b in ALL {
                if a != b {
                    assert!(!a.prefix().starts_with(b.prefix()), "{a:?} inside {b:?}");
                }
            }
        }
    }

    #[test]
    fn counter_keys_start_with_their_kind() {
        use crate::store::keys;
        assert!(keys::password_failures(1, 2).starts_with(CounterKind::PasswordFailures.key_prefix()));
        assert!(keys::unknown_identifier_failures(1, "ab").starts_with(CounterKind::PasswordFailures.key_prefix()));
        assert!(keys::otp_requests(1, 2).starts_with(CounterKind::OtpRequests.key_prefix()));
    }
}
