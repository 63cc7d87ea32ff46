//! Baseline for the cold-start harness: `baseline-dynamo-get` with one argon2id hash before its
//! GetItem, to price what a hash does to the code that runs after it. Argon2's 19 MiB sweep evicts
//! the caches and the TLB, so the SDK call and the runtime's code after a hash run slower than
//! without one. The harness takes this baseline's own time (its total less its AWS wait and the
//! hash as timed here) less `baseline-dynamo-get`'s as the after-effect of one hash. It also pays
//! for printing the hash's time (one short write), which the functions do too.
//!
//! The hash is the project's: Argon2id, version 0x13, m=19456 KiB, t=2, p=1, 32 bytes, here of a
//! fixed PIN and salt, with the working memory kept per thread and reused, and run in place on the
//! current-thread runtime as `shared::domain::password` does in a Lambda function (a fresh 19 MiB
//! per hash would price page faults, the blocking pool a thread hand-off). Each hash's time, from
//! taking the memory to the hash's end as the project times it, goes to stdout as the harness reads
//! the functions' `argon2id` events: `{"fields":{"message":"argon2id","micros":N,"cpu_micros":N}}`
//! (wall and thread CPU time).
//!
//! With `BENCH_GETS_BEFORE_HASH=N` it first makes N GetItems, then hashes, then makes its
//! GetItem: the shape of a route that reads, checks a secret and writes (`pin-validate` makes 4
//! calls before its check and 1 after), so that a hash's after-effect is priced on as many calls
//! as such a route makes around it. With `BENCH_SHAPE=ROUTE` it makes that route's calls instead,
//! as the project's store makes them, on items of its own with the attributes and sizes of the
//! route's (so that the SDK serializes and parses as much; the items read are written by the
//! harness's workload, `BENCH`/`*-SHAPE`):
//! - `pin-validate`: 3 GetItems (an API key's, an identifier's claim, a customer), a conditional
//!   UpdateItem returning the new PIN item (the attempt reserved), the hash, and a second one
//!   (the failures cleared);
//! - `v2-register`: a GetItem (the merchant), the hash, an UpdateItem adding one to a sequence
//!   (the customer ID), and a transaction of 4 conditional Puts (the customer, its email and
//!   phone claims, its app key);
//! - `v2-reset-password`: a GetItem (the customer), a conditional UpdateItem returning the new
//!   item (the token's try reserved), the hash, and a transaction of a conditional Delete (the
//!   token consumed), a conditional Update (the password set) and a Delete (the other reset
//!   record).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use lambda_http::{Body, Error, Request, Response, service_fn};

#[path = "../../dynamo-get/src/get_item.rs"]
mod get_item;
mod shape_items;

use shape_items::{SECRET_HASH, key, n, read_fixture, s, unix_now};

const PIN: &[u8] = b"135790";
const SALT: &[u8; 16] = b"coldstart-salt16";

thread_local! {
    /// This thread's argon2 working memory, allocated by the first hash and reused.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// One hash with `blocks` blocks of this thread's memory, its time printed; an error (never
/// expected at these parameters) as text.
fn hash(argon2: &Argon2<'_>, blocks: usize) -> Result<(), String> {
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    let mut output = [0u8; 32];
    MEMORY.with(|memory| {
        let mut memory = memory.try_borrow_mut().map_err(|e| e.to_string())?;
        if memory.len() < blocks {
            *memory = vec![Block::default(); blocks];
        }
        argon2.hash_password_into_with_memory(PIN, SALT, &mut output, &mut memory[..blocks]).map_err(|e| e.to_string())
    })?;
    let micros = started.elapsed().as_micros();
    let cpu_micros = thread_cpu_time().saturating_sub(cpu_started).as_micros();
    println!("{{\"fields\":{{\"message\":\"argon2id\",\"micros\":{micros},\"cpu_micros\":{cpu_micros}}}}}");
    Ok(())
}

/// This thread's CPU time so far, as the project's hasher reads it.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `clock_gettime` only writes the `timespec` it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
}

/// One conditional UpdateItem of the item `BENCH`/`sk`, as the project's store sends its own
/// (`ALL_NEW`, and `ALL_OLD` when the condition fails): whether it wrote.
async fn update(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    sk: &str,
    expression: &str,
    condition: &str,
    values: &[(&str, AttributeValue)],
) -> bool {
    let mut request = client
        .update_item()
        .table_name(table)
        .set_key(Some(key(sk)))
        .update_expression(expression)
        .condition_expression(condition)
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    for (name, value) in values {
        request = request.expression_attribute_values(*name, value.clone());
    }
    request.send().await.is_ok()
}

/// `pin-validate`'s calls around its hash: the key, the identifier and the customer read, then
/// an attempt reserved; after the hash, the failures cleared.
async fn pin_validate_shape(client: &aws_sdk_dynamodb::Client, table: &str, hashed: impl FnOnce() -> bool) -> bool {
    for fixture in ["APIKEY-SHAPE", "UNIQUE-SHAPE", CUSTOMER_SHAPE] {
        if !read_fixture(client, table, fixture).await {
            return false;
        }
    }
    let reserved = update(
        client,
        table,
        "PIN-SHAPE",
        "SET failures = if_not_exists(failures, :zero) + :one, failures_expire_at = :expires",
        "attribute_not_exists(failures) OR failures = :zero OR failures < :limit",
        &[(":zero", n(0)), (":one", n(1)), (":expires", n(4_102_444_800_i64)), (":limit", n(3))],
    )
    .await;
    reserved
        && hashed()
        && update(
            client,
            table,
            "PIN-SHAPE",
            "SET failures = :zero, failures_expire_at = :zero",
            "attribute_exists(pk)",
            &[(":zero", n(0))],
        )
        .await
}

/// A PHC string as long as the project's, the password the shapes write.
const PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Y29sZHN0YXJ0LXNhbHQxNg$uFCT0hbXWQbEx3IeNLsKIONqjXWtN4V1LL+pJ4hRVTc";
/// The customer item the shapes read, and `v2-reset-password`'s updates.
const CUSTOMER_SHAPE: &str = "CUSTOMER-SHAPE";

fn item<const N: usize>(
    pk: String,
    sk: &str,
    attributes: [(&str, AttributeValue); N],
) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<String, AttributeValue> =
        attributes.into_iter().map(|(name, value)| (name.to_string(), value)).collect();
    item.insert("pk".into(), AttributeValue::S(pk));
    item.insert("sk".into(), s(sk));
    item
}

/// A transaction's Put of `item` if no item has its key, as the store's (`ALL_OLD` on failure).
fn put_if_new(table: &str, item: HashMap<String, AttributeValue>) -> Option<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .ok()?;
    Some(TransactWriteItem::builder().put(put).build())
}

/// A transaction's Delete of `BENCH`/`sk`, conditional if `condition` is given.
fn delete(table: &str, sk: &str, condition: Option<(&str, [(&str, AttributeValue); 2])>) -> Option<TransactWriteItem> {
    let mut delete = Delete::builder().table_name(table).set_key(Some(key(sk)));
    if let Some((condition, values)) = condition {
        delete = delete.condition_expression(condition);
        for (name, value) in values {
            delete = delete.expression_attribute_values(name, value);
        }
    }
    Some(TransactWriteItem::builder().delete(delete.build().ok()?).build())
}

async fn transact(client: &aws_sdk_dynamodb::Client, items: Option<Vec<TransactWriteItem>>) -> bool {
    match items {
        Some(items) => client.transact_write_items().set_transact_items(Some(items)).send().await.is_ok(),
        None => false,
    }
}

/// `v2-register`'s calls around its hash: the merchant read; after the hash, the customer ID
/// allocated and the customer, its claims and its app key written in one transaction.
async fn v2_register_shape(client: &aws_sdk_dynamodb::Client, table: &str, hashed: impl FnOnce() -> bool) -> bool {
    if !read_fixture(client, table, "MERCHANT-SHAPE").await || !hashed() {
        return false;
    }
    let allocated = client
        .update_item()
        .table_name(table)
        .set_key(Some(key("SEQUENCE-SHAPE")))
        .update_expression("ADD #last :one")
        .expression_attribute_names("#last", "last")
        .expression_attribute_values(":one", n(1))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await;
    let id = match allocated.as_ref().ok().and_then(|output| output.attributes()?.get("last")) {
        Some(AttributeValue::N(id)) => id.clone(),
        _ => return false,
    };
    let (email, mobile, now) = (format!("reg-shape-{id}@example.com"), format!("+62822{id:0>8}"), unix_now());
    let claim = |field: &str, value: &str| {
        put_if_new(table, item(format!("BENCH-UNIQUE#1#{field}#{value}"), "UNIQUE", [("customer_id", n(&id))]))
    };
    let profile = AttributeValue::M(HashMap::from([("location_id".to_string(), n(7))]));
    let customer = [
        ("id", n(&id)),
        ("merchant_id", n(1)),
        ("name", s("Budi")),
        ("email", s(&email)),
        ("mobile", s(&mobile)),
        ("password_hash", s(PASSWORD_HASH)),
        ("profile", profile),
        ("created_at", n(now)),
    ];
    let app_key =
        [("key_hash", s(SECRET_HASH)), ("merchant_id", n(1)), ("customer_id", n(&id)), ("created_at", n(now))];
    let items = [
        put_if_new(table, item(format!("BENCH-CUSTOMER#{id}"), "CUSTOMER", customer)),
        claim("email", &email),
        claim("mobile", &mobile),
        put_if_new(table, item(format!("BENCH-APPKEY#{id}#{SECRET_HASH}"), "APPKEY", app_key)),
    ];
    transact(client, items.into_iter().collect()).await
}

/// `v2-reset-password`'s calls around its hash: the customer read and the token's try reserved;
/// after the hash, the token consumed, the password set and the other reset record deleted in
/// one transaction. The reservation also writes the token's record (the route's was written by
/// the request that sent it), so that each invocation has one to consume.
async fn v2_reset_password_shape(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    hashed: impl FnOnce() -> bool,
) -> bool {
    if !read_fixture(client, table, CUSTOMER_SHAPE).await {
        return false;
    }
    let now = unix_now();
    let reserved = update(
        client,
        table,
        "OTP-SHAPE",
        "SET tries = if_not_exists(tries, :zero) + :one, otp_hash = :hash, expires_at = :expires",
        "attribute_not_exists(pk) OR expires_at > :now",
        &[(":zero", n(0)), (":one", n(1)), (":hash", s(SECRET_HASH)), (":expires", n(now + 3_600)), (":now", n(now))],
    )
    .await;
    if !reserved || !hashed() {
        return false;
    }
    let set_password = Update::builder()
        .table_name(table)
        .set_key(Some(key(CUSTOMER_SHAPE)))
        .update_expression("SET password_hash = :hash")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":hash", s(PASSWORD_HASH))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .ok()
        .map(|update| TransactWriteItem::builder().update(update).build());
    let consumed = delete(
        table,
        "OTP-SHAPE",
        Some(("otp_hash = :hash AND expires_at > :now", [(":hash", s(SECRET_HASH)), (":now", n(now))])),
    );
    transact(client, [consumed, set_password, delete(table, "OTP-OTHER-SHAPE", None)].into_iter().collect()).await
}

/// Whose calls the baseline makes around its hash (`BENCH_SHAPE`).
#[derive(Clone, Copy)]
enum Shape {
    /// `BENCH_GETS_BEFORE_HASH` GetItems, the hash, a GetItem.
    GetsAroundHash,
    PinValidate,
    V2Register,
    V2ResetPassword,
}

impl Shape {
    fn from_env() -> Shape {
        match std::env::var("BENCH_SHAPE").as_deref() {
            Ok("pin-validate") => Shape::PinValidate,
            Ok("v2-register") => Shape::V2Register,
            Ok("v2-reset-password") => Shape::V2ResetPassword,
            _ => Shape::GetsAroundHash,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let params = Params::new(19_456, 2, 1, None)?;
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("BENCH_TABLE").unwrap_or_else(|_| "bench".to_string());
    let gets_before_hash: usize =
        std::env::var("BENCH_GETS_BEFORE_HASH").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
    let shape = Shape::from_env();
    lambda_http::run(service_fn(move |_request: Request| {
        let (argon2, client, table) = (argon2.clone(), client.clone(), table.clone());
        async move {
            let hashed = || hash(&argon2, blocks).is_ok();
            match shape {
                Shape::PinValidate => return get_item::reply(pin_validate_shape(&client, &table, hashed).await),
                Shape::V2Register => return get_item::reply(v2_register_shape(&client, &table, hashed).await),
                Shape::V2ResetPassword => {
                    return get_item::reply(v2_reset_password_shape(&client, &table, hashed).await);
                }
                Shape::GetsAroundHash => {}
            }
            if !get_item::get_times(&client, &table, gets_before_hash).await {
                return get_item::reply(false);
            }
            if let Err(error) = hash(&argon2, blocks) {
                eprintln!("hash failed: {error}");
                let body = Body::Text("{\"found\":false,\"error\":\"hash_failed\"}".into());
                return Ok::<_, Error>(Response::builder().status(503).body(body)?);
            }
            get_item::answer(&client, &table).await
        }
    }))
    .await
}
