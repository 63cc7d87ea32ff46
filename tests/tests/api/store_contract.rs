//! The store contract: the same promises from the SQLite and the DynamoDB adapters.

use std::sync::Arc;

use futures::future::join_all;
use integration_tests::app::{Backend, store};
use shared::store::{
    AdminStore, CounterPolicy, CounterState, Merchant, NewCustomer, Sequence, StoreError, UniqueField, Window,
};

const NOW: i64 = 1_800_000_000;

both_stores!(
    init_is_idempotent,
    settings_keep_the_first_value_even_under_races,
    ids_are_positive_and_unique_under_concurrency,
    merchant_and_api_key_round_trip,
    fifty_concurrent_creations_of_one_email_create_exactly_one,
    each_unique_field_refuses_a_duplicate_and_creates_nothing,
    same_email_in_two_merchants_is_fine_and_invisible_across,
    given_ids_are_kept_and_allocation_skips_them,
    reservations_never_pass_the_limit_under_a_hundred_racers,
    expired_counter_reads_zero_and_restarts_before_ttl_deletion,
    fixed_window_keeps_its_start_sliding_window_moves,
    clearing_a_counter_resets_it,
);

fn customer(merchant_id: u64, email: Option<&str>, mobile: Option<&str>, member_id: Option<&str>) -> NewCustomer {
    NewCustomer {
        id: None,
        merchant_id,
        name: "Ann".into(),
        email: email.map(String::from),
        mobile: mobile.map(String::from),
        member_id: member_id.map(String::from),
        password_hash: None,
        created_at: NOW,
        ..NewCustomer::default()
    }
}

const THREE_PER_WEEK: CounterPolicy = CounterPolicy { limit: 3, window_secs: 604_800, window: Window::Sliding };

async fn init_is_idempotent(backend: Backend) {
    let (store, _dir) = store(backend).await;
    store.init().await.expect("second init");
    store.init().await.expect("third init");
}

async fn settings_keep_the_first_value_even_under_races(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let racers = (0..10).map(|i| {
        let store = Arc::clone(&store);
        async move { store.setting_or_insert("key", &format!("value-{i}")).await.expect("setting") }
    });
    let values = join_all(racers).await;
    assert!(values.iter().all(|v| v == &values[0]), "{values:?}");
    assert_eq!(store.setting_or_insert("key", "later").await.expect("setting"), values[0]);
}

async fn ids_are_positive_and_unique_under_concurrency(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let racers = (0..30).map(|_| {
        let store = Arc::clone(&store);
        async move { store.next_id(Sequence::Merchant).await.expect("id") }
    });
    let mut ids = join_all(racers).await;
    ids.sort_unstable();
    assert_eq!(ids, (1..=30).collect::<Vec<u64>>());
    assert_eq!(store.next_id(Sequence::Customer).await.expect("id"), 1, "sequences are independent");
}

async fn merchant_and_api_key_round_trip(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let merchant = Merchant { id: 7, name: "Shop".into(), created_at: NOW };
    store.create_merchant(&merchant, "hash-7").await.expect("created");
    assert_eq!(store.merchant(7).await.expect("read"), Some(merchant.clone()));
    assert_eq!(store.merchant(8).await.expect("read"), None);
    assert_eq!(store.merchant_id_by_api_key("hash-7", NOW).await.expect("read"), Some(7));
    assert_eq!(store.merchant_id_by_api_key("hash-8", NOW).await.expect("read"), None);
    assert!(matches!(store.create_merchant(&merchant, "hash-7b").await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.merchant_id_by_api_key("hash-7b", NOW).await.expect("read"), None, "nothing half written");
}

async fn fifty_concurrent_creations_of_one_email_create_exactly_one(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let racers = (0..50).map(|i| {
        let store = Arc::clone(&store);
        let member = format!("M{i}");
        async move { store.create_customer(customer(1, Some("ann@example.com"), None, Some(&member)), None).await }
    });
    let results = join_all(racers).await;
    let created: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(created.len(), 1, "exactly one winner");
    for result in &results {
        match result {
            Ok(_) | Err(StoreError::Duplicate(UniqueField::Email)) => {}
            // DynamoDB may cancel a conflicting transaction instead; it wrote nothing either.
            Err(StoreError::Unavailable(_)) if backend == Backend::DynamoDb => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    // The losers left nothing behind: their member IDs are free.
    let winner = created[0];
    for i in 0..50 {
        let member = format!("M{i}");
        let found = store.customer_by(1, UniqueField::MemberId, &member).await.expect("read");
        if Some(&member) == winner.member_id.as_ref() {
            assert_eq!(found.map(|c| c.id), Some(winner.id));
        } else {
            assert_eq!(found, None, "{member} was claimed by a failed creation");
        }
    }
}

async fn each_unique_field_refuses_a_duplicate_and_creates_nothing(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let first = store
        .create_customer(customer(1, Some("ann@example.com"), Some("+6281234567890"), Some("M1")), None)
        .await
        .expect("first");
    assert!(first.id > 0);
    let cases = [
        (customer(1, Some("ann@example.com"), Some("+6281111111111"), Some("M2")), UniqueField::Email),
        (customer(1, Some("bob@example.com"), Some("+6281234567890"), Some("M2")), UniqueField::Mobile),
        (customer(1, Some("bob@example.com"), Some("+6281111111111"), Some("M1")), UniqueField::MemberId),
    ];
    for (new, field) in cases {
        match store.create_customer(new, None).await {
            Err(StoreError::Duplicate(got)) => assert_eq!(got, field),
            other => panic!("expected Duplicate({field}), got {other:?}"),
        }
    }
    // None of the refused creations claimed anything.
    assert_eq!(store.customer_by(1, UniqueField::Email, "bob@example.com").await.expect("read"), None);
    assert_eq!(store.customer_by(1, UniqueField::Mobile, "+6281111111111").await.expect("read"), None);
    assert_eq!(store.customer_by(1, UniqueField::MemberId, "M2").await.expect("read"), None);
    let second = store
        .create_customer(customer(1, Some("bob@example.com"), Some("+6281111111111"), Some("M2")), None)
        .await
        .expect("the same values are free after the refusals");
    assert_ne!(second.id, first.id);
    let by_email = store.customer_by(1, UniqueField::Email, "ann@example.com").await.expect("read");
    assert_eq!(by_email, Some(first.clone()));
    assert_eq!(store.customer(1, first.id).await.expect("read"), Some(first));
}

async fn same_email_in_two_merchants_is_fine_and_invisible_across(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let a = store.create_customer(customer(1, Some("ann@example.com"), None, None), None).await.expect("A");
    let b = store.create_customer(customer(2, Some("ann@example.com"), None, None), None).await.expect("B");
    assert_ne!((a.merchant_id, a.id), (b.merchant_id, b.id));
    assert_eq!(store.customer(2, a.id).await.expect("read").map(|c| c.merchant_id), (a.id == b.id).then_some(2));
    assert_eq!(store.customer(3, a.id).await.expect("read"), None);
    assert_eq!(store.customer_by(3, UniqueField::Email, "ann@example.com").await.expect("read"), None);
}

async fn given_ids_are_kept_and_allocation_skips_them(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let mut imported = customer(1, Some("old@example.com"), None, None);
    imported.id = Some(2);
    assert_eq!(store.create_customer(imported.clone(), None).await.expect("import").id, 2);
    imported.email = Some("other@example.com".into());
    assert!(matches!(store.create_customer(imported, None).await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.customer_by(1, UniqueField::Email, "other@example.com").await.expect("read"), None);
    let first = store.create_customer(customer(1, None, None, None), None).await.expect("allocated");
    let second = store.create_customer(customer(1, None, None, None), None).await.expect("allocated");
    assert_eq!((first.id, second.id), (1, 3), "allocation skips the imported ID");
}

async fn reservations_never_pass_the_limit_under_a_hundred_racers(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let racers = (0..100).map(|_| {
        let store: Arc<dyn AdminStore> = Arc::clone(&store);
        async move { store.reserve("pin#1#1", THREE_PER_WEEK, NOW).await.expect("reserve") }
    });
    let reservations = join_all(racers).await;
    let granted: Vec<u32> = reservations.iter().filter(|r| r.granted).map(|r| r.count).collect();
    assert_eq!(granted.len(), 3, "{reservations:?}");
    let mut counts = granted.clone();
    counts.sort_unstable();
    assert_eq!(counts, vec![1, 2, 3]);
    assert!(reservations.iter().filter(|r| !r.granted).all(|r| r.count == 3));
    assert_eq!(store.counter("pin#1#1", NOW).await.expect("read").count, 3);
}

async fn expired_counter_reads_zero_and_restarts_before_ttl_deletion(backend: Backend) {
    let (store, _dir) = store(backend).await;
    for _ in 0..3 {
        assert!(store.reserve("k", THREE_PER_WEEK, NOW).await.expect("reserve").granted);
    }
    let last = NOW + 604_800;
    assert!(!store.reserve("k", THREE_PER_WEEK, last - 1).await.expect("reserve").granted, "1 s before expiry");
    let state = store.counter("k", last - 1).await.expect("read");
    assert_eq!(state, CounterState { count: 3, expires_at: Some(last) });
    // At expiry the record still exists (no TTL sweep has run) but reads as absent.
    assert_eq!(store.counter("k", last).await.expect("read"), CounterState::default());
    let again = store.reserve("k", THREE_PER_WEEK, last).await.expect("reserve");
    assert!(again.granted);
    assert_eq!((again.count, again.expires_at), (1, last + 604_800));
}

async fn fixed_window_keeps_its_start_sliding_window_moves(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let fixed = CounterPolicy { limit: 5, window_secs: 100, window: Window::Fixed };
    let sliding = CounterPolicy { limit: 5, window_secs: 100, window: Window::Sliding };
    assert_eq!(store.reserve("f", fixed, NOW).await.expect("reserve").expires_at, NOW + 100);
    assert_eq!(store.reserve("f", fixed, NOW + 50).await.expect("reserve").expires_at, NOW + 100);
    assert_eq!(store.reserve("s", sliding, NOW).await.expect("reserve").expires_at, NOW + 100);
    assert_eq!(store.reserve("s", sliding, NOW + 50).await.expect("reserve").expires_at, NOW + 150);
}

async fn clearing_a_counter_resets_it(backend: Backend) {
    let (store, _dir) = store(backend).await;
    for _ in 0..3 {
        store.reserve("c", THREE_PER_WEEK, NOW).await.expect("reserve");
    }
    store.clear_counter("c").await.expect("clear");
    store.clear_counter("never-set").await.expect("clearing nothing is fine");
    assert_eq!(store.counter("c", NOW).await.expect("read").count, 0);
    assert_eq!(store.reserve("c", THREE_PER_WEEK, NOW).await.expect("reserve").count, 1);
}
