//! The store contract: the same promises from the SQLite and the DynamoDB adapters.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::join_all;
use integration_tests::app::{Backend, store, store_instances};
use shared::domain::otp::OtpPurpose;
use shared::store::ids::CUSTOMER_ID_BLOCK;
use shared::store::{
    AdminStore, AppKey, ConsoleSession, CounterPolicy, CounterState, Merchant, NewCustomer, OtpEffect, OtpRecord,
    Sequence, StoreError, UniqueField, Window,
};

const NOW: i64 = 1_800_000_000;

both_stores!(
    init_is_idempotent,
    settings_keep_the_first_value_even_under_races,
    ids_are_positive_and_unique_under_concurrency,
    customer_ids_from_many_instances_at_once_are_positive_and_never_repeat,
    customers_created_through_many_instances_at_once_get_distinct_ids,
    an_id_an_import_took_from_a_held_block_sends_allocation_to_a_new_block,
    merchant_and_api_key_round_trip,
    fifty_concurrent_creations_of_one_email_create_exactly_one,
    each_unique_field_refuses_a_duplicate_and_creates_nothing,
    same_email_in_two_merchants_is_fine_and_invisible_across,
    given_ids_are_kept_and_allocation_skips_them,
    reservations_never_pass_the_limit_under_a_hundred_racers,
    expired_counter_reads_zero_and_restarts_before_ttl_deletion,
    fixed_window_keeps_its_start_sliding_window_moves,
    clearing_a_counter_resets_it,
    app_keys_live_until_a_reset_by_email_revokes_them_all,
    a_reset_by_email_unlinks_only_the_facebook_account_it_names,
    keys_made_while_a_reset_commits_are_whole_and_never_outlive_it,
    the_even_lookup_finds_what_the_plain_one_finds,
    console_sessions_read_back_until_they_expire_or_are_deleted,
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

/// Issue 22, item 6: customer IDs come from blocks, one atomic reservation per block per
/// instance. Four instances (four processes on one table or file) each allocate more than two
/// blocks' worth at once: no ID twice, none below 1, and no block reserved that was not needed.
async fn customer_ids_from_many_instances_at_once_are_positive_and_never_repeat(backend: Backend) {
    const PER_INSTANCE: u64 = 2 * CUSTOMER_ID_BLOCK + 10;
    let (stores, _dir) = store_instances(backend, 4).await;
    let racers = stores.iter().flat_map(|store| {
        (0..PER_INSTANCE).map(move |_| {
            let store = Arc::clone(store);
            async move { store.next_id(Sequence::Customer).await.expect("id") }
        })
    });
    let ids = join_all(racers).await;
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "an ID was handed out twice");
    assert!(ids.iter().all(|id| *id > 0), "{ids:?}");
    // Gaps are bounded: the four instances reserved whole blocks and no more than they needed.
    let blocks_each = PER_INSTANCE.div_ceil(CUSTOMER_ID_BLOCK);
    assert!(
        distinct.last().copied().unwrap_or(0) <= 4 * blocks_each * CUSTOMER_ID_BLOCK,
        "more blocks reserved than needed: highest ID {:?}",
        distinct.last()
    );
}

/// The same through `create_customer`, which is what registrations and the CLI call: a
/// hundred customers of one merchant created at once through four instances, all distinct,
/// all readable under their IDs.
async fn customers_created_through_many_instances_at_once_get_distinct_ids(backend: Backend) {
    let (stores, _dir) = store_instances(backend, 4).await;
    let racers = (0..100).map(|i| {
        let store = Arc::clone(&stores[i % stores.len()]);
        async move {
            let email = format!("c{i}@example.com");
            store.create_customer(customer(1, Some(&email), None, None), None).await
        }
    });
    let created: Vec<_> = join_all(racers).await.into_iter().map(|r| r.expect("created")).collect();
    let ids: BTreeSet<u64> = created.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), created.len(), "two customers got one ID");
    assert!(ids.iter().all(|id| *id > 0));
    for customer in &created {
        let stored = stores[0].customer(1, customer.id).await.expect("read").expect("stored");
        assert_eq!(stored.email, customer.email, "customer {} is the one created", customer.id);
    }
}

/// An import keeps its IDs; one that lands inside a block an instance already holds must not
/// be handed out again, and the rest of that block is left for a new one (past what the
/// sequence had given out when the collision was seen).
async fn an_id_an_import_took_from_a_held_block_sends_allocation_to_a_new_block(backend: Backend) {
    let (stores, _dir) = store_instances(backend, 2).await;
    let (registrations, import) = (&stores[0], &stores[1]);
    let first = registrations.create_customer(customer(1, None, None, None), None).await.expect("first");
    assert_eq!(first.id, 1, "the first block starts at 1");
    // The import writes IDs 2 to 5, which are inside the first instance's block.
    for id in 2..=5 {
        let mut imported = customer(1, Some(&format!("imported{id}@example.com")), None, None);
        imported.id = Some(id);
        assert_eq!(import.create_customer(imported, None).await.expect("import").id, id);
    }
    let next = registrations.create_customer(customer(1, None, None, None), None).await.expect("next");
    assert_eq!(next.id, CUSTOMER_ID_BLOCK + 1, "a new block after the collision, not ID 3");
    let again = registrations.create_customer(customer(1, None, None, None), None).await.expect("again");
    assert_eq!(again.id, CUSTOMER_ID_BLOCK + 2, "and IDs from it after");
    for id in 2..=5 {
        let stored = registrations.customer(1, id).await.expect("read").expect("imported");
        assert_eq!(stored.email, Some(format!("imported{id}@example.com")), "import {id} untouched");
    }
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
    // ID 2 was in the block the first allocation reserved: the next comes from a new block.
    assert_eq!((first.id, second.id), (1, CUSTOMER_ID_BLOCK + 1), "allocation skips the imported ID");
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

async fn the_even_lookup_finds_what_the_plain_one_finds(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let ann = store.create_customer(customer(1, Some("ann@example.com"), None, Some("M1")), None).await.expect("ann");
    for (field, value) in [(UniqueField::Email, "ann@example.com"), (UniqueField::MemberId, "M1")] {
        assert_eq!(store.customer_by_evenly(1, field, value).await.expect("read"), Some(ann.clone()));
    }
    for (merchant, value) in [(1, "bob@example.com"), (2, "ann@example.com")] {
        assert_eq!(store.customer_by_evenly(merchant, UniqueField::Email, value).await.expect("read"), None);
    }
}

fn app_key(customer_id: u64, hash: &str, generation: u32) -> AppKey {
    AppKey { key_hash: hash.into(), merchant_id: 1, customer_id, gcm_id: None, created_at: NOW, generation }
}

const RESETS: CounterPolicy = CounterPolicy { limit: 100, window_secs: 3_600, window: Window::Fixed };

/// Stores a live reset token (hash `token`) for the customer.
async fn reset_token(store: &Arc<dyn AdminStore>, customer_id: u64, token: &str) {
    let record = OtpRecord {
        merchant_id: 1,
        customer_id,
        purpose: OtpPurpose::PasswordResetLink,
        otp_hash: token.into(),
        expires_at: NOW + 3_600,
        tries: 0,
    };
    assert!(store.issue_otp(&record, "resets", RESETS, NOW).await.expect("issue"));
}

fn reset_by_email(password_hash: &str, unlink_facebook: Option<&str>) -> OtpEffect {
    OtpEffect::ResetByEmail { password_hash: password_hash.into(), unlink_facebook: unlink_facebook.map(String::from) }
}

async fn app_keys_live_until_a_reset_by_email_revokes_them_all(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let mut new = customer(1, Some("ann@example.com"), None, None);
    new.facebook_id = Some("fb-1".into());
    let ann = store.create_customer(new, Some(&app_key(0, "k0", 0))).await.expect("ann");
    assert_eq!((ann.key_generation, ann.email_proven_at), (0, None));
    let bob = store.create_customer(customer(1, Some("bob@example.com"), None, None), None).await.expect("bob");
    assert_eq!(store.app_key("k0").await.expect("read").map(|k| k.customer_id), Some(ann.id), "made with Ann");
    for hash in ["k1", "k2"] {
        assert!(store.put_app_key(&app_key(ann.id, hash, 0)).await.expect("put"));
    }
    assert!(store.put_app_key(&app_key(bob.id, "b1", 0)).await.expect("put"));
    assert!(!store.put_app_key(&app_key(999, "nobody", 0)).await.expect("put"), "no such customer");
    assert!(store.delete_app_key("nobody").await.expect("delete").is_none(), "nothing was written");
    assert!(!store.put_app_key(&app_key(ann.id, "ahead", 1)).await.expect("put"), "not Ann's generation yet");
    assert!(matches!(store.put_app_key(&app_key(ann.id, "k1", 0)).await, Err(StoreError::AlreadyExists)));

    reset_token(&store, ann.id, "t1").await;
    let consumed = store
        .consume_otp(1, ann.id, OtpPurpose::PasswordResetLink, "t1", NOW, reset_by_email("new-hash", Some("fb-1")))
        .await
        .expect("consume");
    assert!(consumed);
    for hash in ["k0", "k1", "k2"] {
        assert_eq!(store.app_key(hash).await.expect("read"), None, "{hash} is revoked");
    }
    assert!(store.app_key("b1").await.expect("read").is_some(), "another customer's key lives on");
    assert!(!store.put_app_key(&app_key(ann.id, "late", 0)).await.expect("put"), "made from a stale read");
    assert!(store.delete_app_key("late").await.expect("delete").is_none(), "and not written");
    let after = store.customer(1, ann.id).await.expect("read").expect("Ann");
    assert_eq!(after.key_generation, 1);
    assert_eq!(after.email_proven_at, Some(NOW));
    assert_eq!(after.password_hash.as_deref(), Some("new-hash"));
    assert_eq!(store.otp(1, ann.id, OtpPurpose::PasswordResetLink, NOW).await.expect("read"), None, "consumed");
    assert!(store.put_app_key(&app_key(ann.id, "k3", 1)).await.expect("put"));
    assert_eq!(store.app_key("k3").await.expect("read").map(|k| k.generation), Some(1));

    // A second proof: the keys go again; the email stays proven since the first.
    reset_token(&store, ann.id, "t2").await;
    let effect = reset_by_email("newer-hash", None);
    assert!(
        store.consume_otp(1, ann.id, OtpPurpose::PasswordResetLink, "t2", NOW + 10, effect).await.expect("consume")
    );
    assert_eq!(store.app_key("k3").await.expect("read"), None);
    let after = store.customer(1, ann.id).await.expect("read").expect("Ann");
    assert_eq!((after.key_generation, after.email_proven_at), (2, Some(NOW)));
    // A revoked key's record is still there for its logout to delete, once.
    assert!(store.delete_app_key("k1").await.expect("delete").is_some(), "the key's merchant and customer");
    assert!(store.delete_app_key("k1").await.expect("delete").is_none());
}

async fn a_reset_by_email_unlinks_only_the_facebook_account_it_names(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let mut new = customer(1, Some("ann@example.com"), None, None);
    new.facebook_id = Some("fb-1".into());
    let ann = store.create_customer(new, None).await.expect("ann");
    reset_token(&store, ann.id, "t1").await;
    // Naming another account than the linked one changes nothing at all.
    let effect = reset_by_email("new-hash", Some("fb-2"));
    assert!(!store.consume_otp(1, ann.id, OtpPurpose::PasswordResetLink, "t1", NOW, effect).await.expect("consume"));
    assert_eq!(store.customer(1, ann.id).await.expect("read"), Some(ann.clone()));
    assert!(store.otp(1, ann.id, OtpPurpose::PasswordResetLink, NOW).await.expect("read").is_some(), "token kept");
    // Without unlinking, the link stays.
    let effect = reset_by_email("new-hash", None);
    assert!(store.consume_otp(1, ann.id, OtpPurpose::PasswordResetLink, "t1", NOW, effect).await.expect("consume"));
    assert_eq!(store.customer_by(1, UniqueField::FacebookId, "fb-1").await.expect("read").map(|c| c.id), Some(ann.id));
    // Unlinked, the account's claim is free: another customer can take it.
    reset_token(&store, ann.id, "t2").await;
    let effect = reset_by_email("newer-hash", Some("fb-1"));
    assert!(store.consume_otp(1, ann.id, OtpPurpose::PasswordResetLink, "t2", NOW, effect).await.expect("consume"));
    assert_eq!(store.customer_by(1, UniqueField::FacebookId, "fb-1").await.expect("read"), None);
    assert_eq!(store.customer(1, ann.id).await.expect("read").and_then(|c| c.facebook_id), None);
    let mut other = customer(1, Some("fb@example.com"), None, None);
    other.facebook_id = Some("fb-1".into());
    store.create_customer(other, None).await.expect("the account signs up again");
}

async fn keys_made_while_a_reset_commits_are_whole_and_never_outlive_it(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let ann = store.create_customer(customer(1, Some("ann@example.com"), None, None), None).await.expect("ann");
    reset_token(&store, ann.id, "t1").await;
    let logins = (0..40).map(|i| {
        let store = Arc::clone(&store);
        async move { store.put_app_key(&app_key(ann.id, &format!("race-{i}"), 0)).await }
    });
    let reset = {
        let store = Arc::clone(&store);
        async move {
            let effect = reset_by_email("new-hash", None);
            store.consume_otp(1, ann.id, OtpPurpose::PasswordResetLink, "t1", NOW, effect).await
        }
    };
    let (puts, consumed) = tokio::join!(join_all(logins), reset);
    assert!(consumed.expect("the reset"));
    for (i, put) in puts.into_iter().enumerate() {
        let hash = format!("race-{i}");
        assert_eq!(store.app_key(&hash).await.expect("read"), None, "{hash} outlived the reset");
        match put {
            // Written before the reset: the record exists, revoked.
            Ok(true) => assert!(store.delete_app_key(&hash).await.expect("delete").is_some(), "{hash}"),
            // Refused after it: nothing was written.
            Ok(false) => assert!(store.delete_app_key(&hash).await.expect("delete").is_none(), "{hash}"),
            // DynamoDB may cancel a transaction that collides with the reset; it wrote nothing.
            Err(StoreError::Unavailable(_)) if backend == Backend::DynamoDb => {
                assert!(store.delete_app_key(&hash).await.expect("delete").is_none(), "{hash}")
            }
            Err(other) => panic!("{hash}: {other:?}"),
        }
    }
}

async fn console_sessions_read_back_until_they_expire_or_are_deleted(backend: Backend) {
    let (store, _dir) = store(backend).await;
    let session = |id_hash: &str, merchant_id: u64, expires_at: i64| ConsoleSession {
        id_hash: id_hash.into(),
        merchant_id,
        csrf_token: format!("csrf-{id_hash}"),
        expires_at,
    };
    let first = session("a1", 1, NOW + 100);
    store.put_session(&first, NOW).await.expect("put");
    store.put_session(&session("b2", 2, NOW + 50), NOW).await.expect("put");
    assert_eq!(store.session("a1", NOW).await.expect("read"), Some(first.clone()));
    assert_eq!(store.session("zz", NOW).await.expect("read"), None);
    // Expired reads as absent before any TTL deletion, to the second.
    assert_eq!(store.session("b2", NOW + 49).await.expect("read").map(|s| s.merchant_id), Some(2));
    assert_eq!(store.session("b2", NOW + 50).await.expect("read"), None);
    // A put replaces the session of the same hash.
    let renewed = session("a1", 1, NOW + 500);
    store.put_session(&renewed, NOW + 60).await.expect("put");
    assert_eq!(store.session("a1", NOW + 200).await.expect("read"), Some(renewed));
    store.delete_session("a1").await.expect("delete");
    assert_eq!(store.session("a1", NOW).await.expect("read"), None);
    store.delete_session("a1").await.expect("a second delete is fine");
}
