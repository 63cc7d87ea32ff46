//! The store contract of the operator's calls (imports, exports, key rotation): the same
//! promises from the SQLite and the DynamoDB adapters.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use integration_tests::app::{Backend, store};
use shared::store::prelude::*;
use shared::store::{
    CounterPolicy, Customer, ImportOutcome, ImportedCustomer, Merchant, MerchantImport, PinAttempt, Profile, Sequence,
    UniqueField, Window,
};

const NOW: i64 = 1_800_000_000;
const LOCKOUT: CounterPolicy = CounterPolicy { limit: 3, window_secs: 604_800, window: Window::Sliding };

both_stores!(
    a_rotated_key_ends_at_once_or_at_its_grace_expiry_before_any_ttl_deletion,
    a_grace_period_never_extends_an_earlier_end,
    concurrent_rotations_take_turns_and_leave_one_live_key,
    a_merchant_import_keeps_the_id_and_key_and_refuses_clashes_whole,
    an_import_batch_creates_keeps_ids_and_answers_each_clash,
    checking_an_import_answers_as_the_import_would_and_writes_nothing,
    an_export_pages_every_customer_once_with_its_pin,
);

fn merchant(id: u64) -> Merchant {
    Merchant { id, name: format!("Shop {id}"), created_at: NOW }
}

fn imported(merchant_id: u64, id: u64, email: &str, pin: Option<&str>) -> ImportedCustomer {
    ImportedCustomer {
        customer: Customer {
            id,
            merchant_id,
            name: format!("Customer {id}"),
            email: Some(email.to_string()),
            mobile: None,
            member_id: Some(format!("M{id}")),
            facebook_id: None,
            password_hash: Some(format!("pbkdf2_sha256$1000$salt{id}$hash")),
            profile: Profile::default(),
            created_at: NOW - 86_400,
            // Some proved their email: an export must keep it.
            email_proven_at: id.is_multiple_of(2).then_some(NOW - 3_600),
            key_generation: 0,
        },
        pin_hash: pin.map(str::to_string),
    }
}

async fn a_rotated_key_ends_at_once_or_at_its_grace_expiry_before_any_ttl_deletion(backend: Backend) {
    let (store, _dir) = store(backend).await;
    store.create_merchant(&merchant(7), "key-a").await.expect("merchant");
    store.create_merchant(&merchant(8), "other-merchant-key").await.expect("merchant");
    // A grace period of 100 s: both keys work until then.
    assert_eq!(store.rotate_api_key(7, "key-b", NOW + 100, NOW).await.expect("rotate"), Some(1));
    assert_eq!(store.merchant_id_by_api_key("key-a", NOW + 99).await.expect("read"), Some(7));
    assert_eq!(store.merchant_id_by_api_key("key-b", NOW + 99).await.expect("read"), Some(7));
    // At its end the old key's record is still there (no TTL sweep has run) but reads as absent.
    assert_eq!(store.merchant_id_by_api_key("key-a", NOW + 100).await.expect("read"), None);
    assert_eq!(store.merchant_id_by_api_key("key-b", NOW + 100).await.expect("read"), Some(7));
    // At once: every current key ends now.
    assert_eq!(store.rotate_api_key(7, "key-c", NOW, NOW).await.expect("rotate"), Some(2));
    for old in ["key-a", "key-b"] {
        assert_eq!(store.merchant_id_by_api_key(old, NOW).await.expect("read"), None, "{old}");
    }
    assert_eq!(store.merchant_id_by_api_key("key-c", NOW).await.expect("read"), Some(7));
    assert_eq!(store.merchant_id_by_api_key("other-merchant-key", NOW).await.expect("read"), Some(8));
    assert_eq!(store.rotate_api_key(9, "key-d", NOW, NOW).await.expect("rotate"), None, "no such merchant");
    assert_eq!(store.merchant_id_by_api_key("key-d", NOW).await.expect("read"), None, "nothing written");
}

async fn a_grace_period_never_extends_an_earlier_end(backend: Backend) {
    let (store, _dir) = store(backend).await;
    store.create_merchant(&merchant(7), "key-a").await.expect("merchant");
    store.rotate_api_key(7, "key-b", NOW + 100, NOW).await.expect("rotate");
    assert_eq!(store.rotate_api_key(7, "key-c", NOW + 1000, NOW + 10).await.expect("rotate"), Some(2));
    assert_eq!(store.merchant_id_by_api_key("key-a", NOW + 100).await.expect("read"), None, "kept its end");
    assert_eq!(store.merchant_id_by_api_key("key-b", NOW + 999).await.expect("read"), Some(7));
    assert_eq!(store.merchant_id_by_api_key("key-b", NOW + 1000).await.expect("read"), None);
    assert_eq!(store.merchant_id_by_api_key("key-c", NOW + 5000).await.expect("read"), Some(7));
}

async fn concurrent_rotations_take_turns_and_leave_one_live_key(backend: Backend) {
    let (store, _dir) = store(backend).await;
    store.create_merchant(&merchant(7), "key-0").await.expect("merchant");
    let racers = (1..=10).map(|i| {
        let store = Arc::clone(&store);
        async move { store.rotate_api_key(7, &format!("key-{i}"), NOW, NOW).await }
    });
    for result in join_all(racers).await {
        assert!(matches!(result, Ok(Some(_))), "{result:?}");
    }
    let mut live = Vec::new();
    for i in 0..=10 {
        if store.merchant_id_by_api_key(&format!("key-{i}"), NOW).await.expect("read").is_some() {
            live.push(i);
        }
    }
    assert_eq!(live.len(), 1, "live keys: {live:?}");
    assert_ne!(live, [0]);
}

async fn a_merchant_import_keeps_the_id_and_key_and_refuses_clashes_whole(backend: Backend) {
    let (store, _dir) = store(backend).await;
    assert_eq!(store.import_merchant(&merchant(40), "legacy-40").await.expect("import"), MerchantImport::Created);
    assert_eq!(store.merchant(40).await.expect("read"), Some(merchant(40)));
    assert_eq!(store.merchant_id_by_api_key("legacy-40", NOW).await.expect("read"), Some(40));
    assert_eq!(
        store.import_merchant(&merchant(40), "another-key").await.expect("import"),
        MerchantImport::Exists(merchant(40))
    );
    assert_eq!(store.merchant_id_by_api_key("another-key", NOW).await.expect("read"), None, "nothing written");
    assert_eq!(store.import_merchant(&merchant(41), "legacy-40").await.expect("import"), MerchantImport::KeyTaken(40));
    assert_eq!(store.merchant(41).await.expect("read"), None, "nothing written");
    assert!(store.next_id(Sequence::Merchant).await.expect("id") > 40, "new merchants get IDs past imported ones");
    // An imported merchant's key rotates like any other.
    assert_eq!(store.rotate_api_key(40, "new-40", NOW, NOW).await.expect("rotate"), Some(1));
    assert_eq!(store.merchant_id_by_api_key("legacy-40", NOW).await.expect("read"), None);
}

async fn an_import_batch_creates_keeps_ids_and_answers_each_clash(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let ann = imported(1, 10, "ann@example.com", Some("pin-hash-10"));
    let bob = imported(1, 11, "bob@example.com", None);
    let outcomes = store.import_customers(&[ann.clone(), bob.clone()]).await.expect("import");
    assert_eq!(outcomes, [ImportOutcome::Created, ImportOutcome::Created]);
    assert_eq!(store.customer(1, 10).await.expect("read"), Some(ann.customer.clone()));
    let attempt = store.reserve_pin_attempt(1, 10, LOCKOUT, NOW).await.expect("PIN");
    assert_eq!(attempt, PinAttempt::Granted { pin_hash: "pin-hash-10".into(), count: 1 }, "the lockout counts at once");
    assert_eq!(store.reserve_pin_attempt(1, 11, LOCKOUT, NOW).await.expect("PIN"), PinAttempt::NoPin);

    // A batch never holds one value twice (the caller splits such lines): the clashes are with
    // stored customers.
    let clash_email = imported(1, 12, "bob@example.com", Some("pin-hash-12"));
    let mut clash_id = imported(1, 11, "carol@example.com", None);
    clash_id.customer.name = "Carol".into();
    let dan = imported(1, 13, "dan@example.com", Some("pin-hash-13"));
    let outcomes = store.import_customers(&[ann.clone(), clash_email, clash_id, dan.clone()]).await.expect("import");
    assert_eq!(
        outcomes,
        [
            ImportOutcome::Exists(Box::new(ann.customer.clone())),
            ImportOutcome::Duplicate(UniqueField::Email),
            ImportOutcome::Exists(Box::new(bob.customer.clone())),
            ImportOutcome::Created,
        ]
    );
    // The clashes wrote nothing: no customer 12, no claim on its member ID, no PIN; Carol's
    // email is free. (Customer 11 keeps its own member ID, which Carol's line also had.)
    assert_eq!(store.customer(1, 12).await.expect("read"), None);
    assert_eq!(store.customer_by(1, UniqueField::MemberId, "M12").await.expect("read"), None);
    assert_eq!(store.reserve_pin_attempt(1, 12, LOCKOUT, NOW).await.expect("PIN"), PinAttempt::NoPin);
    assert_eq!(store.customer_by(1, UniqueField::Email, "carol@example.com").await.expect("read"), None);
    assert_eq!(store.customer_by(1, UniqueField::Email, "dan@example.com").await.expect("read"), Some(dan.customer));
    // New customers are allocated past every imported ID.
    let next = store
        .create_customer(shared::store::NewCustomer { merchant_id: 1, created_at: NOW, ..Default::default() }, None)
        .await
        .expect("allocated");
    assert_eq!(next.id, 14);
}

async fn checking_an_import_answers_as_the_import_would_and_writes_nothing(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let ann = imported(1, 10, "ann@example.com", Some("pin-hash-10"));
    let bob = imported(1, 11, "bob@example.com", None);
    assert_eq!(
        store.check_import(&[ann.clone(), bob.clone()]).await.expect("check"),
        [ImportOutcome::Created, ImportOutcome::Created]
    );
    assert_eq!(store.customer(1, 10).await.expect("read"), None, "a check writes nothing");
    assert_eq!(store.customer_by(1, UniqueField::Email, "ann@example.com").await.expect("read"), None);
    store.import_customers(std::slice::from_ref(&ann)).await.expect("import");
    let clash = imported(1, 12, "ann@example.com", None);
    let batch = [ann.clone(), bob.clone()];
    let checked = store.check_import(&batch).await.expect("check");
    assert_eq!(checked, [ImportOutcome::Exists(Box::new(ann.customer.clone())), ImportOutcome::Created]);
    let clashing = store.check_import(std::slice::from_ref(&clash)).await.expect("check");
    assert_eq!(clashing, [ImportOutcome::Duplicate(UniqueField::Email)]);
    assert_eq!(store.customer(1, 11).await.expect("read"), None);
    assert_eq!(store.import_customers(&batch).await.expect("import"), checked, "the import answers the same");
    assert_eq!(store.import_customers(&[clash]).await.expect("import"), clashing);
}

async fn an_export_pages_every_customer_once_with_its_pin(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let mut expected = BTreeMap::new();
    let mut batch = Vec::new();
    for id in 1..=40 {
        let pin = (id % 2 == 0).then(|| format!("pin-hash-{id}"));
        let customer = imported(1, id, &format!("c{id}@example.com"), pin.as_deref());
        expected.insert(id, customer.clone());
        batch.push(customer);
        if batch.len() == 16 {
            store.import_customers(&batch).await.expect("import");
            batch.clear();
        }
    }
    store.import_customers(&batch).await.expect("import");
    let others: Vec<_> = (1..=5).map(|id| imported(2, id, &format!("o{id}@example.com"), Some("pin"))).collect();
    store.import_customers(&others).await.expect("import");

    // Pages of 7: customers cut from their PINs at many page boundaries.
    let mut exported = BTreeMap::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let (page, next) = store.export_page(1, cursor.take(), 7).await.expect("page");
        for customer in page {
            let id = customer.customer.id;
            assert!(exported.insert(id, customer).is_none(), "customer {id} exported twice");
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(exported, expected);
}

/// A database made before API keys could end gets the column on `init`, and its keys keep
/// working.
#[tokio::test]
async fn an_sqlite_database_from_before_key_expiry_is_migrated_by_init() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    let old = rusqlite::Connection::open(&path).expect("open");
    old.execute_batch(
        "CREATE TABLE merchants (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
         CREATE TABLE api_keys (hash TEXT PRIMARY KEY, merchant_id INTEGER NOT NULL REFERENCES merchants(id));
         INSERT INTO merchants VALUES (7, 'Shop 7', 1800000000);
         INSERT INTO api_keys VALUES ('key-a', 7);",
    )
    .expect("the old schema");
    drop(old);
    let store = shared::store::sqlite::SqliteStore::open(&path).expect("open");
    store.init().await.expect("init migrates");
    store.init().await.expect("and again");
    assert_eq!(store.merchant_id_by_api_key("key-a", NOW).await.expect("read"), Some(7));
    assert_eq!(store.rotate_api_key(7, "key-b", NOW + 60, NOW).await.expect("rotate"), Some(1));
    assert_eq!(store.merchant_id_by_api_key("key-a", NOW + 60).await.expect("read"), None);
}
