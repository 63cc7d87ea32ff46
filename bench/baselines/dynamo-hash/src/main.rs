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
//! as such a route makes around it. With `BENCH_SHAPE=pin-validate` it makes `pin-validate`'s
//! calls instead, as the project's store makes them: 3 GetItems, a conditional UpdateItem
//! returning the new item (the attempt reserved), the hash, and a second one (the failures
//! cleared), on an item of its own.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use lambda_http::{Body, Error, Request, Response, service_fn};

#[path = "../../dynamo-get/src/get_item.rs"]
mod get_item;

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

/// One conditional UpdateItem of the item `BENCH`/`PIN-SHAPE`, as the project's store sends its
/// own (`ALL_NEW`, and `ALL_OLD` when the condition fails): whether it wrote.
async fn update(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    expression: &str,
    condition: &str,
    values: &[(&str, i64)],
) -> bool {
    let mut request = client
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S("BENCH".into()))
        .key("sk", AttributeValue::S("PIN-SHAPE".into()))
        .update_expression(expression)
        .condition_expression(condition)
        .return_values(ReturnValue::AllNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    for (name, value) in values {
        request = request.expression_attribute_values(*name, AttributeValue::N(value.to_string()));
    }
    request.send().await.is_ok()
}

/// `pin-validate`'s calls around its hash: the key, the identifier and the customer read, then
/// an attempt reserved; after the hash, the failures cleared.
async fn pin_validate_shape(client: &aws_sdk_dynamodb::Client, table: &str, hashed: impl FnOnce() -> bool) -> bool {
    if !get_item::get_times(client, table, 3).await {
        return false;
    }
    let reserved = update(
        client,
        table,
        "SET failures = if_not_exists(failures, :zero) + :one, failures_expire_at = :expires",
        "attribute_not_exists(failures) OR failures = :zero OR failures < :limit",
        &[(":zero", 0), (":one", 1), (":expires", 4_102_444_800), (":limit", 3)],
    )
    .await;
    reserved
        && hashed()
        && update(
            client,
            table,
            "SET failures = :zero, failures_expire_at = :zero",
            "attribute_exists(pk)",
            &[(":zero", 0)],
        )
        .await
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
    let pin_validate = std::env::var("BENCH_SHAPE").is_ok_and(|shape| shape == "pin-validate");
    lambda_http::run(service_fn(move |_request: Request| {
        let (argon2, client, table) = (argon2.clone(), client.clone(), table.clone());
        async move {
            if pin_validate {
                return get_item::reply(pin_validate_shape(&client, &table, || hash(&argon2, blocks).is_ok()).await);
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
