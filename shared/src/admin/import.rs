//! Customer imports at the size of a real platform, and exports.
//!
//! An import streams its file: a reader thread cuts it into chunks of lines, chunks are parsed
//! and validated on the blocking pool (several at once, answered in file order), valid
//! customers are gathered into batches of the store's size (`Operator::import_batching`), and
//! up to the store's number of batches are written at once. What is held at any moment is a
//! few chunks and a few batches, whatever the file's size. Each rejected line is reported as it
//! is found, with its number and reason, and changes nothing.
//!
//! Two lines that name the same customer (an ID, an email...) are never written at the same
//! time: the later one waits until the earlier one's batch is done, so the earlier line always
//! wins, as it would line by line.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::{AdminError, failed, looks_like_email, present, require_merchant};
use crate::App;
use crate::domain::identifier::normalize_email;
use crate::domain::legacy_hash;
use crate::domain::mobile::{Region, parse_mobile};
use crate::store::{Customer, ImportOutcome, ImportedCustomer, Operator, Profile, StoreError, UniqueField};

/// Lines read and parsed together.
const CHUNK_LINES: usize = 1024;
/// Chunks read ahead of the writes: what the reader may hold while the store is busy.
const CHUNKS_AHEAD: usize = 4;
/// Customers (SQLite) or items (DynamoDB) read per export page.
const EXPORT_PAGE: u32 = 1000;
/// A line longer than this is refused without being parsed (a customer is well under 2 KiB).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One customer of an import (or export) file: JSON, one object per line.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerLine {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A password hash: Django's encoded form (`pbkdf2_sha256$...`) or an argon2id PHC string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A PIN hash, in the same formats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebook_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Epoch seconds; the time of the import when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Epoch seconds: when the customer proved to own `email` (a v2 reset); absent: never.
    /// Kept by an export so that a restored customer's Facebook link is not treated as unproven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_proven_at: Option<i64>,
}

impl CustomerLine {
    /// The line an export writes for `customer`.
    pub fn from_customer(imported: ImportedCustomer) -> CustomerLine {
        let ImportedCustomer { customer, pin_hash } = imported;
        CustomerLine {
            id: customer.id,
            email: customer.email,
            mobile: customer.mobile,
            member_id: customer.member_id,
            name: Some(customer.name).filter(|name| !name.is_empty()),
            password: customer.password_hash,
            pin: pin_hash,
            facebook_id: customer.facebook_id,
            profile: Some(customer.profile).filter(|profile| !profile.is_empty()),
            created_at: Some(customer.created_at),
            email_proven_at: customer.email_proven_at,
        }
    }
}

/// A stored hash as an import takes it: blank or Django's unusable mark is none, anything else
/// must be a supported format within bounds.
fn imported_hash(what: &str, value: Option<String>) -> Result<Option<String>, String> {
    match present(value) {
        None => Ok(None),
        Some(hash) if legacy_hash::is_unusable(&hash) => Ok(None),
        Some(hash) => match legacy_hash::check_importable(&hash) {
            Ok(()) => Ok(Some(hash)),
            Err(refused) => Err(format!("{what}: {refused}")),
        },
    }
}

/// The customer a line describes, validated as the API would; the reason when it is refused.
fn customer_from_line(text: &[u8], merchant: u64, region: Region, now: i64) -> Result<ImportedCustomer, String> {
    if text.len() > MAX_LINE_BYTES {
        return Err(format!("longer than {MAX_LINE_BYTES} bytes"));
    }
    let line: CustomerLine = serde_json::from_slice(text).map_err(|e| format!("not a customer record: {e}"))?;
    if line.id == 0 || i64::try_from(line.id).is_err() {
        return Err("id must be a positive integer below 2^63".into());
    }
    let email = present(line.email).map(|email| normalize_email(&email));
    if let Some(email) = &email
        && !looks_like_email(email)
    {
        return Err(format!("{email:?} is not a valid email address"));
    }
    let mobile = match present(line.mobile) {
        None => None,
        Some(text) => {
            Some(parse_mobile(&text, region).ok_or_else(|| format!("{text:?} is not a valid mobile phone number"))?)
        }
    };
    let customer = Customer {
        id: line.id,
        merchant_id: merchant,
        name: present(line.name).unwrap_or_default(),
        email,
        mobile,
        member_id: present(line.member_id),
        facebook_id: present(line.facebook_id),
        password_hash: imported_hash("password", line.password)?,
        profile: line.profile.unwrap_or_default(),
        created_at: line.created_at.unwrap_or(now),
        email_proven_at: line.email_proven_at,
        // App keys are not imported: a new customer record starts their first generation.
        key_generation: 0,
    };
    Ok(ImportedCustomer { customer, pin_hash: imported_hash("pin", line.pin)? })
}

/// Whether `existing` is what the line would have created: a re-run. Hashes are not compared
/// (a customer may have logged in and been rehashed since), nor the creation time.
fn same_customer(existing: &Customer, new: &Customer) -> bool {
    existing.name == new.name
        && UniqueField::ALL.iter().all(|field| existing.unique_value(*field) == new.unique_value(*field))
}

/// What an import did, in numbers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Customers written (with `--dry-run`: that would be).
    pub imported: u64,
    /// Lines whose customer was already there, the same (a re-run).
    pub skipped: u64,
    pub rejected: u64,
}

/// Where an import reports as it goes.
pub trait ImportProgress: Send {
    /// A line was refused; nothing of it was written.
    fn rejected(&mut self, line: usize, reason: &str);

    /// Another batch is done: `bytes` of the file have been read so far.
    fn advanced(&mut self, _bytes: u64, _summary: &ImportSummary) {}
}

/// Collects rejected lines (tests, small files).
impl ImportProgress for Vec<(usize, String)> {
    fn rejected(&mut self, line: usize, reason: &str) {
        self.push((line, reason.to_string()));
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Check every line against the file and the store, write nothing.
    pub dry_run: bool,
}

/// A line as the parsers hand it over.
enum Parsed {
    Valid(usize, Box<ImportedCustomer>),
    Rejected(usize, String),
}

/// A chunk of raw lines with the number of the first.
struct Chunk {
    first: usize,
    lines: Vec<Vec<u8>>,
}

/// Reads one line, with its `\n`, into `line`, holding at most `MAX_LINE_BYTES + 1` bytes of
/// it: a longer line is read to its end but not kept, and is then refused as too long. Answers
/// the bytes read (0 at the end of the file).
pub(super) fn read_line_bounded(reader: &mut dyn BufRead, line: &mut Vec<u8>) -> std::io::Result<u64> {
    let mut read = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(read);
        }
        let (used, ended) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        let room = (MAX_LINE_BYTES + 1).saturating_sub(line.len());
        line.extend_from_slice(&available[..used.min(room)]);
        reader.consume(used);
        read += used as u64;
        if ended {
            return Ok(read);
        }
    }
}

/// A line without its line ending; `None` when it is blank.
pub(super) fn content(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (!line.iter().all(u8::is_ascii_whitespace)).then_some(line)
}

/// Reads `reader` on a thread of its own, in chunks, counting the bytes read.
fn spawn_reader(
    mut reader: Box<dyn BufRead + Send>,
    bytes: Arc<AtomicU64>,
) -> tokio::sync::mpsc::Receiver<std::io::Result<Chunk>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    std::thread::spawn(move || {
        let mut number = 0;
        loop {
            let mut chunk = Chunk { first: number + 1, lines: Vec::with_capacity(CHUNK_LINES) };
            while chunk.lines.len() < CHUNK_LINES {
                let mut line = Vec::new();
                match read_line_bounded(reader.as_mut(), &mut line) {
                    Ok(0) => break,
                    Ok(read) => {
                        bytes.fetch_add(read, Ordering::Relaxed);
                        number += 1;
                        chunk.lines.push(line);
                    }
                    Err(error) => {
                        let _ = sender.blocking_send(Err(error));
                        return;
                    }
                }
            }
            let last = chunk.lines.len() < CHUNK_LINES;
            if !chunk.lines.is_empty() && sender.blocking_send(Ok(chunk)).is_err() {
                return;
            }
            if last {
                return;
            }
        }
    });
    receiver
}

fn parse_chunk(chunk: Chunk, merchant: u64, region: Region, now: i64) -> Vec<Parsed> {
    chunk
        .lines
        .iter()
        .enumerate()
        .filter_map(|(offset, line)| Some((chunk.first + offset, content(line)?)))
        .map(|(number, line)| match customer_from_line(line, merchant, region, now) {
            Ok(customer) => Parsed::Valid(number, Box::new(customer)),
            Err(reason) => Parsed::Rejected(number, reason),
        })
        .collect()
}

/// The keys two lines must not share while written at once: the ID and each unique value.
fn keys(hasher: &std::collections::hash_map::RandomState, customer: &Customer) -> Vec<(Option<UniqueField>, u64)> {
    let mut keys = vec![(None, hasher.hash_one(("id", customer.id)))];
    for field in UniqueField::ALL {
        if let Some(value) = customer.unique_value(field) {
            keys.push((Some(field), hasher.hash_one((field.as_str(), value))));
        }
    }
    keys
}

/// A batch on its way to the store: its lines and keys.
struct Batch {
    lines: Vec<usize>,
    customers: Vec<ImportedCustomer>,
    keys: Vec<u64>,
}

impl Batch {
    fn new() -> Batch {
        Batch { lines: Vec::new(), customers: Vec::new(), keys: Vec::new() }
    }
}

/// How often a batch the store could not take (throttled, timed out, busy) is sent again
/// before the import stops, and the first pause (doubling each time).
const BATCH_ATTEMPTS: u32 = 5;
const FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Writes (or checks) one batch. Over millions of lines a throttled or slow call is expected,
/// so an unavailable store gets the batch again after a pause: safe, since a customer already
/// written comes back as `Exists` (the same one: counted as skipped).
async fn write_batch(
    operator: &dyn Operator,
    customers: &[ImportedCustomer],
    dry_run: bool,
) -> crate::store::StoreResult<Vec<ImportOutcome>> {
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        let outcome = match dry_run {
            true => operator.check_import(customers).await,
            false => operator.import_customers(customers).await,
        };
        match outcome {
            Err(StoreError::Unavailable(reason)) if attempt < BATCH_ATTEMPTS => {
                tracing::warn!(%reason, attempt, "the store did not take a batch: sending it again");
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

struct Importer<'a> {
    operator: Arc<dyn Operator>,
    options: ImportOptions,
    batch_size: usize,
    in_flight: usize,
    hasher: std::collections::hash_map::RandomState,
    /// Keys of the current batch and of those being written.
    busy: HashSet<u64>,
    /// With `dry_run`, what the lines checked so far would have written, as 64-bit
    /// fingerprints: each unique value, and each ID with the customer it names (a later line
    /// with the same customer is a re-run, skipped; with another, a clash). About 10 and 20
    /// bytes a key: the one part of a dry run that grows with the file.
    seen: HashSet<u64>,
    seen_ids: HashMap<u64, u64>,
    current: Batch,
    writing: JoinSet<(Batch, crate::store::StoreResult<Vec<ImportOutcome>>)>,
    summary: ImportSummary,
    progress: &'a mut dyn ImportProgress,
    bytes: Arc<AtomicU64>,
}

impl Importer<'_> {
    fn reject(&mut self, line: usize, reason: &str) {
        self.summary.rejected += 1;
        self.progress.rejected(line, reason);
    }

    /// With `dry_run`: what the store would answer for `customer` because of an earlier line
    /// of the file (`None`: nothing, ask the store). Remembers the line otherwise.
    fn earlier_line(&mut self, customer: &Customer, keys: &[(Option<UniqueField>, u64)]) -> Option<Result<(), String>> {
        let id_key = keys.iter().find(|(field, _)| field.is_none()).map(|(_, key)| *key)?;
        let content =
            self.hasher.hash_one((&customer.name, UniqueField::ALL.map(|field| customer.unique_value(field))));
        if let Some(earlier) = self.seen_ids.get(&id_key) {
            return Some(match *earlier == content {
                true => Ok(()),
                false => Err(format!("customer ID {} is taken by a different customer (an earlier line)", customer.id)),
            });
        }
        if let Some((Some(field), _)) = keys.iter().find(|(_, key)| self.seen.contains(key)) {
            return Some(Err(format!("an earlier line of the file has the same {}", field.as_str())));
        }
        self.seen_ids.insert(id_key, content);
        self.seen.extend(keys.iter().filter(|(field, _)| field.is_some()).map(|(_, key)| *key));
        None
    }

    async fn add(&mut self, line: usize, customer: ImportedCustomer) -> Result<(), AdminError> {
        let keys = keys(&self.hasher, &customer.customer);
        if self.options.dry_run {
            match self.earlier_line(&customer.customer, &keys) {
                Some(Ok(())) => {
                    self.summary.skipped += 1;
                    return Ok(());
                }
                Some(Err(reason)) => {
                    self.reject(line, &reason);
                    return Ok(());
                }
                None => {}
            }
        }
        if keys.iter().any(|(_, key)| self.busy.contains(key)) {
            // The earlier line must be done first.
            self.flush().await?;
            self.drain().await?;
        }
        for (_, key) in &keys {
            self.busy.insert(*key);
            self.current.keys.push(*key);
        }
        self.current.lines.push(line);
        self.current.customers.push(customer);
        if self.current.customers.len() >= self.batch_size {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends the current batch to the store, once there is room for it.
    async fn flush(&mut self) -> Result<(), AdminError> {
        if self.current.customers.is_empty() {
            return Ok(());
        }
        while self.writing.len() >= self.in_flight {
            self.finish_one().await?;
        }
        let batch = std::mem::replace(&mut self.current, Batch::new());
        let operator = Arc::clone(&self.operator);
        let dry_run = self.options.dry_run;
        self.writing.spawn(async move {
            let outcome = write_batch(operator.as_ref(), &batch.customers, dry_run).await;
            (batch, outcome)
        });
        Ok(())
    }

    async fn drain(&mut self) -> Result<(), AdminError> {
        while !self.writing.is_empty() {
            self.finish_one().await?;
        }
        Ok(())
    }

    async fn finish_one(&mut self) -> Result<(), AdminError> {
        let Some(done) = self.writing.join_next().await else {
            return Ok(());
        };
        let (batch, outcomes) = done.map_err(|e| AdminError::Failed(format!("an import task failed: {e}")))?;
        let first = batch.lines.first().copied().unwrap_or_default();
        let outcomes = outcomes.map_err(|error| {
            AdminError::Failed(format!(
                "{error} (in the batch starting at line {first}; the lines before it that were reported are \
                 done: run the import again, it skips what is there)"
            ))
        })?;
        for key in &batch.keys {
            self.busy.remove(key);
        }
        for ((line, customer), outcome) in batch.lines.iter().zip(&batch.customers).zip(outcomes) {
            match outcome {
                ImportOutcome::Created => self.summary.imported += 1,
                ImportOutcome::Exists(existing) if same_customer(&existing, &customer.customer) => {
                    self.summary.skipped += 1
                }
                ImportOutcome::Exists(_) => self
                    .reject(*line, &format!("customer ID {} is taken by a different customer", customer.customer.id)),
                ImportOutcome::Duplicate(field) => {
                    self.reject(*line, &format!("another customer already has this {}", field.as_str()))
                }
            }
        }
        self.progress.advanced(self.bytes.load(Ordering::Relaxed), &self.summary);
        Ok(())
    }
}

/// Imports the customers of `merchant` from JSON lines (see `CustomerLine`), keeping their IDs
/// and hashes (a Django hash is replaced by argon2id at the first right password or PIN).
/// Idempotent: a line whose customer is already there, the same, is skipped; a line that
/// clashes with another customer, or is malformed, is reported with its number and changes
/// nothing. With `dry_run` every line is checked against the file and the store and nothing
/// is written.
pub async fn import_customers_from(
    app: &App,
    merchant: u64,
    reader: Box<dyn BufRead + Send>,
    options: ImportOptions,
    progress: &mut dyn ImportProgress,
) -> Result<ImportSummary, AdminError> {
    require_merchant(app, merchant).await?;
    let operator = app.operator().map_err(failed)?;
    let batching = operator.import_batching();
    let bytes = Arc::new(AtomicU64::new(0));
    let mut chunks = spawn_reader(reader, Arc::clone(&bytes));
    let mut importer = Importer {
        operator,
        options,
        batch_size: batching.customers.max(1),
        in_flight: batching.in_flight.max(1),
        hasher: std::collections::hash_map::RandomState::new(),
        busy: HashSet::new(),
        seen: HashSet::new(),
        seen_ids: HashMap::new(),
        current: Batch::new(),
        writing: JoinSet::new(),
        summary: ImportSummary::default(),
        progress,
        bytes,
    };
    let (region, now) = (app.config.default_region, app.clock.now());
    let mut parsing = VecDeque::new();
    let mut read_all = false;
    loop {
        while !read_all && parsing.len() < CHUNKS_AHEAD {
            match chunks.recv().await {
                Some(Ok(chunk)) => {
                    parsing.push_back(tokio::task::spawn_blocking(move || parse_chunk(chunk, merchant, region, now)))
                }
                Some(Err(error)) => return Err(AdminError::Failed(format!("cannot read the file: {error}"))),
                None => read_all = true,
            }
        }
        let Some(next) = parsing.pop_front() else { break };
        let parsed = next.await.map_err(|e| AdminError::Failed(format!("a parsing task failed: {e}")))?;
        for line in parsed {
            match line {
                Parsed::Valid(number, customer) => importer.add(number, *customer).await?,
                Parsed::Rejected(number, reason) => importer.reject(number, &reason),
            }
        }
    }
    importer.flush().await?;
    importer.drain().await?;
    Ok(importer.summary)
}

/// What `import_customers` did: the numbers, and every rejected line in file order.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: u64,
    pub skipped: u64,
    pub rejected: Vec<(usize, String)>,
}

/// `import_customers_from` on text in memory (tests, small files).
pub async fn import_customers(app: &App, merchant: u64, lines: &str) -> Result<ImportReport, AdminError> {
    import_customers_with(app, merchant, lines, ImportOptions::default()).await
}

/// `import_customers` with options.
pub async fn import_customers_with(
    app: &App,
    merchant: u64,
    lines: &str,
    options: ImportOptions,
) -> Result<ImportReport, AdminError> {
    let mut rejected = Vec::new();
    let reader = Box::new(std::io::Cursor::new(lines.to_string()));
    let summary = import_customers_from(app, merchant, reader, options, &mut rejected).await?;
    rejected.sort();
    Ok(ImportReport { imported: summary.imported, skipped: summary.skipped, rejected })
}

/// Writes every customer of `merchant` to `out` as JSON lines that `import_customers` reads
/// back unchanged: password and PIN hashes as they are stored (argon2id PHC strings, or a
/// Django hash not yet replaced). Returns how many were written. Streams page by page.
pub async fn export_customers(app: &App, merchant: u64, out: &mut dyn std::io::Write) -> Result<u64, AdminError> {
    require_merchant(app, merchant).await?;
    let operator = app.operator().map_err(failed)?;
    let mut cursor = None;
    let mut written = 0;
    loop {
        let (page, next) = operator.export_page(merchant, cursor, EXPORT_PAGE).await.map_err(failed)?;
        for customer in page {
            let line = serde_json::to_string(&CustomerLine::from_customer(customer)).map_err(failed)?;
            writeln!(out, "{line}").map_err(|e| AdminError::Failed(format!("cannot write the export: {e}")))?;
            written += 1;
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out.flush().map_err(|e| AdminError::Failed(format!("cannot write the export: {e}")))?;
    Ok(written)
}
