//! Model-based test of the rules the stores enforce (issue 24 item 3): the PIN lockout, OTP
//! tries and request limits, and windowed counters. Random sequences of store operations and
//! clock jumps (many landing on a window's edge) run against a store and against `Model`, the
//! domain's rules over plain maps; every answer, and every counter and live code read after each step,
//! must agree. The model applies the domain's rule functions (`shared::domain::rules`), as the
//! SQLite store does; on DynamoDB this checks the condition expressions against them.
//!
//! The sequences come from fixed seeds (proptest's strategies, without shrinking), so a
//! failure names its seed and step and replays.

use std::collections::BTreeMap;

use futures::future::join_all;

use integration_tests::app::{Backend, store};
use proptest::prelude::{Just, ProptestConfig, Strategy, prop_oneof};
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use shared::domain::otp::OtpPurpose;
use shared::domain::rules::{self, Counted};
use shared::store::{
    AdminStore, CounterPolicy, CounterState, Merchant, NewCustomer, OtpEffect, OtpRecord, PinAttempt, PinCondition,
    Reservation, Window,
};

both_stores!(random_sequences_of_rule_operations_agree_with_the_model);

const START: i64 = 1_800_000_000;
const MERCHANT: u64 = 1;
/// Sequences per store, and operations in each: 2,000 operations per store in CI.
const SEQUENCES: u64 = 8;
const STEPS: usize = 250;

/// Two counters of each kind of window, small enough that their limits and edges are reached.
const COUNTERS: [(&str, CounterPolicy); 2] = [
    ("model#fixed", CounterPolicy { limit: 3, window_secs: 100, window: Window::Fixed }),
    ("model#sliding", CounterPolicy { limit: 2, window_secs: 50, window: Window::Sliding }),
];
const PIN_POLICY: CounterPolicy = CounterPolicy { limit: 3, window_secs: 200, window: Window::Sliding };
const OTP_LIMIT: CounterPolicy = CounterPolicy { limit: 2, window_secs: 300, window: Window::Fixed };
const OTP_TTL: i64 = 150;
const OTP_MAX_TRIES: u32 = 3;
const HASHES: [&str; 3] = ["hash-a", "hash-b", "hash-c"];
/// Clock jumps: none, a second, and each window's length and its neighbours.
const JUMPS: [i64; 13] = [0, 1, 49, 50, 51, 99, 100, 101, 149, 150, 199, 200, 301];

#[derive(Debug, Clone)]
enum Op {
    Reserve(usize),
    Release(usize),
    ClearCounter(usize),
    PutPin { customer: usize, condition: Condition },
    ReservePinAttempt(usize),
    ClearPinFailures(usize),
    IssueOtp { customer: usize, hash: usize },
    ReserveOtpTry(usize),
    ConsumeOtp { customer: usize, hash: usize },
    Advance(i64),
}

#[derive(Debug, Clone, Copy)]
enum Condition {
    Any,
    Unset,
    /// Only while the stored hash is the one the caller read (`true`) or another (`false`).
    Current(bool),
}

/// The hashes a step writes and expects. A PIN hash has a random salt, so every write is of a
/// hash never stored before (the DynamoDB adapter takes finding its own hash stored for its
/// own retried write, which only a repeated hash could fake).
struct Hashes {
    new_pin: String,
    current: String,
}

/// What an operation answered, as comparable values.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Reservation(Reservation),
    Done,
    Wrote(bool),
    Pin(PinAttempt),
    Try(Option<OtpRecord>),
}

/// Operations weighted so that limits fill up and windows pass in one sequence.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let counter = 0..COUNTERS.len();
    let customer = 0..2usize;
    let hash = 0..HASHES.len();
    let condition =
        prop_oneof![Just(Condition::Any), Just(Condition::Unset), proptest::bool::ANY.prop_map(Condition::Current),];
    let op = prop_oneof![
        3 => counter.clone().prop_map(Op::Reserve),
        1 => counter.clone().prop_map(Op::Release),
        1 => counter.prop_map(Op::ClearCounter),
        2 => (customer.clone(), condition).prop_map(|(customer, condition)| Op::PutPin { customer, condition }),
        3 => customer.clone().prop_map(Op::ReservePinAttempt),
        1 => customer.clone().prop_map(Op::ClearPinFailures),
        2 => (customer.clone(), hash.clone()).prop_map(|(customer, hash)| Op::IssueOtp { customer, hash }),
        2 => customer.clone().prop_map(Op::ReserveOtpTry),
        1 => (customer, hash).prop_map(|(customer, hash)| Op::ConsumeOtp { customer, hash }),
        4 => proptest::sample::select(JUMPS.to_vec()).prop_map(Op::Advance),
    ];
    proptest::collection::vec(op, STEPS)
}

/// The sequence of `seed`.
fn sequence(seed: u64) -> Vec<Op> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(ProptestConfig::default(), rng);
    match ops().new_tree(&mut runner) {
        Ok(tree) => tree.current(),
        Err(reason) => panic!("generating sequence {seed}: {reason}"),
    }
}

/// The domain's rules (`shared::domain::rules`) over plain maps: what every store must answer.
#[derive(Debug, Default)]
struct Model {
    /// Counter key → its count as stored.
    counters: BTreeMap<String, Counted>,
    /// Customer → (PIN hash, failures).
    pins: BTreeMap<u64, (String, Counted)>,
    /// Customer → its PIN-reset code, live or not.
    otps: BTreeMap<u64, OtpRecord>,
}

impl Model {
    fn reserve(&mut self, key: &str, policy: CounterPolicy, now: i64) -> Reservation {
        let reservation = rules::reserve(self.counters.get(key).copied(), policy, now);
        if reservation.granted {
            self.counters.insert(key.to_string(), reservation.counted());
        }
        reservation
    }

    fn release(&mut self, key: &str, now: i64) {
        if let Some(released) = rules::release(self.counters.get(key).copied(), now) {
            self.counters.insert(key.to_string(), released);
        }
    }

    fn counter(&self, key: &str, now: i64) -> CounterState {
        rules::read(self.counters.get(key).copied(), now)
    }

    fn put_pin(&mut self, customer: u64, hash: &str, condition: Condition, current: &str) -> bool {
        let stored = self.pins.get(&customer).map(|(hash, _)| hash.as_str());
        let allowed = match condition {
            Condition::Any => true,
            Condition::Unset => stored.is_none(),
            Condition::Current(_) => stored == Some(current),
        };
        if allowed {
            self.pins.insert(customer, (hash.to_string(), rules::NO_FAILURES));
        }
        allowed
    }

    fn reserve_pin_attempt(&mut self, customer: u64, now: i64) -> PinAttempt {
        let Some((hash, failures)) = self.pins.get_mut(&customer) else {
            return PinAttempt::NoPin;
        };
        let Some(reserved) = rules::reserve_pin_attempt(*failures, PIN_POLICY, now) else {
            return PinAttempt::Blocked;
        };
        *failures = reserved;
        PinAttempt::Granted { pin_hash: hash.clone(), count: reserved.count }
    }

    fn clear_pin_failures(&mut self, customer: u64) {
        if let Some((_, failures)) = self.pins.get_mut(&customer) {
            *failures = rules::NO_FAILURES;
        }
    }

    fn issue_otp(&mut self, otp: &OtpRecord, now: i64) -> bool {
        if !self.reserve(&otp_limit_key(otp.customer_id), OTP_LIMIT, now).granted {
            return false;
        }
        self.otps.insert(otp.customer_id, otp.clone());
        true
    }

    fn reserve_otp_try(&mut self, customer: u64, now: i64) -> Option<OtpRecord> {
        let otp = self.otps.get_mut(&customer)?;
        otp.tries = rules::use_otp_try(otp.tries, otp.expires_at, OTP_MAX_TRIES, now)?;
        Some(otp.clone())
    }

    fn consume_otp(&mut self, customer: u64, hash: &str, new_pin: &str, now: i64) -> bool {
        let consumable =
            self.otps.get(&customer).is_some_and(|otp| rules::otp_consumable(&otp.otp_hash, otp.expires_at, hash, now));
        if consumable {
            self.otps.remove(&customer);
            self.pins.insert(customer, (new_pin.to_string(), rules::NO_FAILURES));
        }
        consumable
    }

    fn otp(&self, customer: u64, now: i64) -> Option<OtpRecord> {
        self.otps.get(&customer).filter(|otp| rules::otp_live(otp.expires_at, now)).cloned()
    }
}

fn otp_limit_key(customer: u64) -> String {
    format!("model#otp#{customer}")
}

async fn apply(store: &dyn AdminStore, customers: [u64; 2], op: &Op, hashes: &Hashes, now: &mut i64) -> Answer {
    match *op {
        Op::Reserve(i) => {
            let (key, policy) = COUNTERS[i];
            Answer::Reservation(
                store.reserve(key, policy, *now).await.unwrap_or_else(|error| panic!("{op:?}: {error}")),
            )
        }
        Op::Release(i) => {
            store.release(COUNTERS[i].0, *now).await.unwrap_or_else(|error| panic!("{op:?}: {error}"));
            Answer::Done
        }
        Op::ClearCounter(i) => {
            store.clear_counter(COUNTERS[i].0).await.unwrap_or_else(|error| panic!("{op:?}: {error}"));
            Answer::Done
        }
        Op::PutPin { customer, condition } => {
            let condition = match condition {
                Condition::Any => PinCondition::Any,
                Condition::Unset => PinCondition::Unset,
                Condition::Current(_) => PinCondition::Current(&hashes.current),
            };
            let wrote = store.put_pin(MERCHANT, customers[customer], &hashes.new_pin, condition).await;
            Answer::Wrote(wrote.unwrap_or_else(|error| panic!("{op:?}: {error}")))
        }
        Op::ReservePinAttempt(customer) => {
            let attempt = store.reserve_pin_attempt(MERCHANT, customers[customer], PIN_POLICY, *now).await;
            Answer::Pin(attempt.unwrap_or_else(|error| panic!("{op:?}: {error}")))
        }
        Op::ClearPinFailures(customer) => {
            store
                .clear_pin_failures(MERCHANT, customers[customer])
                .await
                .unwrap_or_else(|error| panic!("{op:?}: {error}"));
            Answer::Done
        }
        Op::IssueOtp { customer, hash } => {
            let otp = otp_record(customers[customer], HASHES[hash], *now);
            let key = otp_limit_key(customers[customer]);
            Answer::Wrote(
                store.issue_otp(&otp, &key, OTP_LIMIT, *now).await.unwrap_or_else(|error| panic!("{op:?}: {error}")),
            )
        }
        Op::ReserveOtpTry(customer) => {
            let reserved =
                store.reserve_otp_try(MERCHANT, customers[customer], OtpPurpose::PinReset, OTP_MAX_TRIES, *now).await;
            Answer::Try(reserved.unwrap_or_else(|error| panic!("{op:?}: {error}")))
        }
        Op::ConsumeOtp { customer, hash } => {
            let effect = OtpEffect::SetPin(hashes.new_pin.clone());
            let consumed = store
                .consume_otp(MERCHANT, customers[customer], OtpPurpose::PinReset, HASHES[hash], *now, effect)
                .await;
            Answer::Wrote(consumed.unwrap_or_else(|error| panic!("{op:?}: {error}")))
        }
        Op::Advance(seconds) => {
            *now += seconds;
            Answer::Done
        }
    }
}

fn predict(model: &mut Model, customers: [u64; 2], op: &Op, hashes: &Hashes, now: i64) -> Answer {
    match *op {
        Op::Reserve(i) => Answer::Reservation(model.reserve(COUNTERS[i].0, COUNTERS[i].1, now)),
        Op::Release(i) => {
            model.release(COUNTERS[i].0, now);
            Answer::Done
        }
        Op::ClearCounter(i) => {
            model.counters.remove(COUNTERS[i].0);
            Answer::Done
        }
        Op::PutPin { customer, condition } => {
            Answer::Wrote(model.put_pin(customers[customer], &hashes.new_pin, condition, &hashes.current))
        }
        Op::ReservePinAttempt(customer) => Answer::Pin(model.reserve_pin_attempt(customers[customer], now)),
        Op::ClearPinFailures(customer) => {
            model.clear_pin_failures(customers[customer]);
            Answer::Done
        }
        Op::IssueOtp { customer, hash } => {
            Answer::Wrote(model.issue_otp(&otp_record(customers[customer], HASHES[hash], now), now))
        }
        Op::ReserveOtpTry(customer) => Answer::Try(model.reserve_otp_try(customers[customer], now)),
        Op::ConsumeOtp { customer, hash } => {
            Answer::Wrote(model.consume_otp(customers[customer], HASHES[hash], &hashes.new_pin, now))
        }
        // The clock is moved by `apply`, once.
        Op::Advance(_) => Answer::Done,
    }
}

/// The counters and live codes `op` may change (a clock jump: every one).
fn touched(op: &Op, customers: [u64; 2]) -> (Vec<String>, Vec<u64>) {
    match *op {
        Op::Reserve(i) | Op::Release(i) | Op::ClearCounter(i) => (vec![COUNTERS[i].0.to_string()], vec![]),
        Op::IssueOtp { customer, .. } => (vec![otp_limit_key(customers[customer])], vec![customers[customer]]),
        Op::ReserveOtpTry(customer) | Op::ConsumeOtp { customer, .. } => (vec![], vec![customers[customer]]),
        Op::PutPin { .. } | Op::ReservePinAttempt(_) | Op::ClearPinFailures(_) => (vec![], vec![]),
        Op::Advance(_) => {
            let keys = COUNTERS.iter().map(|(key, _)| key.to_string());
            (keys.chain(customers.map(otp_limit_key)).collect(), customers.to_vec())
        }
    }
}

fn otp_record(customer: u64, hash: &str, now: i64) -> OtpRecord {
    OtpRecord {
        merchant_id: MERCHANT,
        customer_id: customer,
        purpose: OtpPurpose::PinReset,
        otp_hash: hash.to_string(),
        expires_at: now + OTP_TTL,
        tries: 0,
    }
}

async fn random_sequences_of_rule_operations_agree_with_the_model(backend: Backend) {
    for seed in 0..SEQUENCES {
        let (store, _dir) = store(backend).await;
        let merchant = Merchant { id: MERCHANT, name: "Model".into(), created_at: START };
        store.create_merchant(&merchant, "model-key-hash").await.expect("merchant");
        let mut customers = [0; 2];
        for (i, id) in customers.iter_mut().enumerate() {
            let new = NewCustomer {
                merchant_id: MERCHANT,
                name: "Ann".into(),
                email: Some(format!("model-{i}@example.com")),
                created_at: START,
                ..NewCustomer::default()
            };
            *id = store.create_customer(new, None).await.expect("customer").id;
        }

        let mut model = Model::default();
        let mut now = START;
        let mut history = Vec::new();
        for (step, op) in sequence(seed).into_iter().enumerate() {
            let stored = |customer: usize| model.pins.get(&customers[customer]).map(|(hash, _)| hash.clone());
            let current = match op {
                Op::PutPin { customer, condition: Condition::Current(true) } => stored(customer),
                _ => None,
            };
            let hashes = Hashes {
                new_pin: format!("pin-{seed}-{step}"),
                current: current.unwrap_or_else(|| "not-the-stored-pin".to_string()),
            };
            let expected = predict(&mut model, customers, &op, &hashes, now);
            let answered = apply(store.as_ref(), customers, &op, &hashes, &mut now).await;
            history.push(format!("{step}: {op:?} (writes {}) at +{} -> {answered:?}", hashes.new_pin, now - START));
            let context = || format!("{backend:?}, seed {seed}, step {step}:\n{}", history.join("\n"));
            assert_eq!(answered, expected, "{}", context());
            // The state the step may have changed, read at once: after a clock jump, all of it.
            let (keys, codes) = touched(&op, customers);
            let counters = join_all(keys.iter().map(|key| store.counter(key, now))).await;
            for (key, read) in keys.iter().zip(counters) {
                assert_eq!(read.expect("counter"), model.counter(key, now), "counter {key}; {}", context());
            }
            let otps = join_all(codes.iter().map(|c| store.otp(MERCHANT, *c, OtpPurpose::PinReset, now))).await;
            for (customer, read) in codes.iter().zip(otps) {
                assert_eq!(read.expect("otp"), model.otp(*customer, now), "live code of {customer}; {}", context());
            }
        }
    }
}
