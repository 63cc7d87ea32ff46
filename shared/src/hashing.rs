//! The adapter behind the hashing policy (`domain::password`): it runs argon2 where it does not
//! hold up other requests, lends it working memory kept between hashes (mapped in huge pages on
//! Linux), draws the salts, and times each hash. Hashing is CPU-bound: async callers go through
//! `hash_blocking`/`verify_blocking`, which run it on tokio's blocking pool so a multi-threaded
//! server's request threads stay free, and in place in a Lambda function's single-threaded
//! runtime.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::Block;

use crate::domain::password::{
    HashError, HashPolicy, ITERATIONS, MEMORY_KIB, PARALLELISM, SALT_BYTES, Verdict, WorkingMemory as MemoryPort,
};
use crate::random::random_bytes;

#[derive(Clone)]
pub struct SecretHasher {
    policy: HashPolicy,
    /// A hash of a random value, checked when there is no stored hash so that an unknown user
    /// costs as much time as a wrong password. Made on first use, not at start-up.
    dummy: Arc<OnceLock<String>>,
    /// How many checks have run (dummy ones included): lets tests prove that a blocked PIN
    /// or a throttled password is never evaluated.
    verifications: Arc<AtomicU64>,
    /// At most one hash per core at a time on the blocking pool: more cannot run faster, and
    /// each holds its working memory.
    concurrency: Arc<tokio::sync::Semaphore>,
    /// In a function whose route does not declare the pepper: every hash and check fails
    /// rather than run without a pepper the deployment may have.
    withheld: bool,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHasher").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// This thread's kept working memory (`with_memory`), as the policy's port.
struct KeptMemory;

impl MemoryPort for KeptMemory {
    fn with_blocks(
        &self,
        blocks: usize,
        run: &mut dyn FnMut(&mut [Block]) -> Result<(), argon2::Error>,
    ) -> Result<(), argon2::Error> {
        with_memory(blocks, run)
    }
}

impl SecretHasher {
    pub fn new(pepper: Option<Vec<u8>>) -> Result<SecretHasher, HashError> {
        Self::with_params(pepper, MEMORY_KIB, ITERATIONS, PARALLELISM)
    }

    pub fn with_params(pepper: Option<Vec<u8>>, m: u32, t: u32, p: u32) -> Result<SecretHasher, HashError> {
        Ok(SecretHasher {
            policy: HashPolicy::new(pepper, m, t, p)?,
            dummy: Arc::new(OnceLock::new()),
            verifications: Arc::new(AtomicU64::new(0)),
            concurrency: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
            withheld: false,
        })
    }

    /// This hasher for a function whose route does not declare the pepper: it refuses to hash
    /// or check anything (`HashError::Withheld`), so a missing declaration is a loud failure,
    /// never hashes made without the deployment's pepper.
    pub fn withheld(&self) -> SecretHasher {
        SecretHasher { withheld: true, ..self.clone() }
    }

    pub fn hash(&self, secret: &str) -> Result<String, HashError> {
        if self.withheld {
            return Err(HashError::Withheld);
        }
        let salt = random_bytes::<SALT_BYTES>()?;
        self.policy.hash(secret, &salt, &KeptMemory)
    }

    /// How many checks this hasher (and its clones) has run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Checks `secret` against a stored hash (`HashPolicy::verify`), spending an argon2 check's
    /// time where the policy asks for it.
    pub fn verify(&self, secret: &str, stored: &str) -> Verdict {
        if self.withheld {
            tracing::error!("{}", HashError::Withheld);
            return Verdict::Mismatch;
        }
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let checked = self.policy.verify(secret, stored, &KeptMemory);
        if checked.pad_with_dummy {
            let _ = self.policy.check(secret, self.dummy(), &KeptMemory);
        }
        checked.verdict
    }

    /// Spends the time of a real check, for a user that has no hash (always a mismatch).
    pub fn verify_dummy(&self, secret: &str) -> Verdict {
        let _ = self.verify(secret, self.dummy());
        Verdict::Mismatch
    }

    /// A hash of a random value, made on first use.
    fn dummy(&self) -> &str {
        self.dummy.get_or_init(|| {
            let random = random_bytes::<16>().map(hex::encode).unwrap_or_default();
            self.hash(&random).unwrap_or_default()
        })
    }

    pub async fn hash_blocking(&self, secret: String) -> Result<String, HashError> {
        if self.withheld {
            return Err(HashError::Withheld);
        }
        if on_current_thread_runtime() {
            return self.hash(&secret);
        }
        let _permit = self.concurrency.acquire().await.map_err(|_| HashError::Task)?;
        let hasher = self.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&secret)).await.map_err(|_| HashError::Task)?
    }

    /// Verifies on the blocking pool; `stored: None` runs the dummy check.
    pub async fn verify_blocking(&self, secret: String, stored: Option<String>) -> Result<Verdict, HashError> {
        if self.withheld {
            return Err(HashError::Withheld);
        }
        let check = move |hasher: &SecretHasher| match stored {
            Some(stored) => hasher.verify(&secret, &stored),
            None => hasher.verify_dummy(&secret),
        };
        if on_current_thread_runtime() {
            return Ok(check(self));
        }
        let _permit = self.concurrency.acquire().await.map_err(|_| HashError::Task)?;
        let hasher = self.clone();
        tokio::task::spawn_blocking(move || check(&hasher)).await.map_err(|_| HashError::Task)
    }
}

/// Above this many 1 KiB blocks (64 MiB) a hash's working memory is not kept for reuse: only
/// an imported hash with unusual parameters asks for that much.
const MAX_KEPT_BLOCKS: usize = 64 * 1024;

thread_local! {
    /// This thread's argon2 working memory, kept between hashes. Allocating it for every hash
    /// costs a page fault per page each time, and fragments the heap: freed, the block is
    /// nibbled by small allocations and the next hash extends the heap again, so a function's
    /// peak RSS grows request after request (BENCHMARKS.md, peak RSS).
    static MEMORY: RefCell<Option<ThreadMemory>> = const { RefCell::new(None) };
}

/// Argon2 working memory. On Linux it is mapped from the kernel in transparent huge pages where
/// the kernel allows them, and populated in one call (`MADV_POPULATE_WRITE`) instead of being
/// written page by page: a cold start's first hash no longer pays a fault per page, and
/// warm hashes miss the TLB less (the A/B figures: bench/results/2026-12-01-full-cpu-plain-http.md). Elsewhere, or if
/// mapping fails, a `Vec`.
enum ThreadMemory {
    #[cfg(target_os = "linux")]
    Mapped(mapped::Mapped),
    Heap(Vec<Block>),
}

impl ThreadMemory {
    fn new(blocks: usize) -> ThreadMemory {
        #[cfg(target_os = "linux")]
        if let Some(mapped) = mapped::Mapped::new(blocks) {
            return ThreadMemory::Mapped(mapped);
        }
        ThreadMemory::Heap(vec![Block::default(); blocks])
    }

    fn blocks(&mut self) -> &mut [Block] {
        match self {
            #[cfg(target_os = "linux")]
            ThreadMemory::Mapped(mapped) => mapped.blocks(),
            ThreadMemory::Heap(blocks) => blocks,
        }
    }
}

#[cfg(target_os = "linux")]
mod mapped {
    use std::ptr::NonNull;

    use argon2::Block;

    /// Transparent huge pages are 2 MiB on x86-64 and on arm64 with 4 KiB base pages.
    const HUGE_PAGE: usize = 2 << 20;

    /// A private anonymous mapping holding `len` blocks, unmapped on drop: whole huge pages,
    /// aligned to one, so that the kernel can back it with transparent huge pages.
    pub struct Mapped {
        start: NonNull<Block>,
        len: usize,
        bytes: usize,
    }

    impl Mapped {
        pub fn new(len: usize) -> Option<Mapped> {
            let wanted = len.checked_mul(size_of::<Block>()).filter(|bytes| *bytes > 0)?;
            let bytes = wanted.checked_next_multiple_of(HUGE_PAGE)?;
            // One huge page more than needed, so that an aligned start lies inside it.
            let reserved = bytes.checked_add(HUGE_PAGE)?;
            // SAFETY: asks for a new mapping; no existing memory is touched.
            let address = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    reserved,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if address == libc::MAP_FAILED {
                return None;
            }
            let head = (address as usize).next_multiple_of(HUGE_PAGE) - address as usize;
            let start = address.wrapping_byte_add(head);
            // SAFETY: both ranges lie inside the mapping made above, outside `start..+bytes`,
            // and are page-aligned (the mapping and `start` are); nothing refers to them.
            unsafe {
                if head > 0 {
                    libc::munmap(address, head);
                }
                libc::munmap(start.wrapping_byte_add(bytes), reserved - head - bytes);
            }
            // Argon2 reads its blocks in a data-dependent order across all 19 MiB: with 4 KiB
            // pages nearly every read misses the TLB. Where THP is `madvise` (the usual
            // default) this asks for huge pages, and populating then faults in one per 2 MiB
            // instead of one per 4 KiB; where THP is off it changes nothing. Only while the kernel has
            // twice that many free 2 MiB blocks: otherwise it would compact memory to make
            // them, which costs more than the huge pages save (bench/results/2026-12-01-full-cpu-plain-http.md).
            // SAFETY (both calls): the range is exactly the part of the mapping kept above.
            if free_huge_blocks().is_some_and(|free| free >= 2 * bytes / HUGE_PAGE) {
                let _ = unsafe { libc::madvise(start, bytes, libc::MADV_HUGEPAGE) };
            }
            // Before Linux 5.14 this fails (EINVAL) and the pages fault in as argon2 writes
            // them, as they did in a `Vec`: slower, not wrong.
            let _ = unsafe { libc::madvise(start, bytes, libc::MADV_POPULATE_WRITE) };
            Some(Mapped { start: NonNull::new(start.cast::<Block>())?, len, bytes })
        }

        pub fn blocks(&mut self) -> &mut [Block] {
            // SAFETY: the mapping is `len` blocks long, page-aligned (a block needs 64 bytes),
            // zero-filled by the kernel (an all-zero block is a valid `Block`, an array of
            // u64), lives until `self` drops, and is reached only through `&mut self`.
            unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
        }
    }

    /// Free blocks the size of a huge page (or larger, counted in huge pages) the kernel holds
    /// right now, from `/proc/buddyinfo`; `None` where that is unreadable or pages are not 4 KiB.
    fn free_huge_blocks() -> Option<usize> {
        // SAFETY: sysconf reads a constant of the system.
        if unsafe { libc::sysconf(libc::_SC_PAGESIZE) } != 4096 {
            return None;
        }
        Some(count_huge_blocks(&std::fs::read_to_string("/proc/buddyinfo").ok()?))
    }

    /// Sums, over every zone of `/proc/buddyinfo` ("Node 0, zone Normal" then the free blocks of
    /// each order, 4 KiB << order), the free blocks of order 9 (2 MiB) and above, in 2 MiB units.
    pub(super) fn count_huge_blocks(buddyinfo: &str) -> usize {
        const HUGE_ORDER: usize = 9;
        buddyinfo
            .lines()
            .flat_map(|zone| zone.split_whitespace().skip(4).enumerate().skip(HUGE_ORDER))
            .filter_map(|(order, free)| free.parse::<usize>().ok()?.checked_shl((order - HUGE_ORDER) as u32))
            .fold(0, usize::saturating_add)
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `new`, which no slice outlives.
            unsafe { libc::munmap(self.start.as_ptr().cast(), self.bytes) };
        }
    }
}

/// The target of the debug event that times each hash (`RUST_LOG=stamps::argon2=debug`): what
/// hashing costs where it runs, for choosing a function's memory size (Lambda's CPU share
/// follows it) and for the benchmark, which subtracts it from the function's own time.
pub const TIMING_TARGET: &str = "stamps::argon2";

/// Runs `f` with `blocks` blocks of this thread's reusable argon2 memory.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    // Timed only when the timing event is on. Its CPU time as well as its wall time: on a busy
    // machine a hash is preempted now and then, and only the CPU time tells the hash's cost from
    // the wait (the benchmark takes each from the invocation's).
    let timed = tracing::enabled!(target: TIMING_TARGET, tracing::Level::DEBUG);
    let started = timed.then(|| (std::time::Instant::now(), thread_cpu_time()));
    let result = MEMORY.with(|memory| match memory.try_borrow_mut() {
        Ok(mut memory) if blocks <= MAX_KEPT_BLOCKS => {
            let kept = memory.get_or_insert_with(|| ThreadMemory::new(blocks));
            if kept.blocks().len() < blocks {
                *kept = ThreadMemory::new(blocks);
            }
            f(&mut kept.blocks()[..blocks])
        }
        // Nested use (never expected) or an outsized cost: a buffer for this hash only.
        _ => f(&mut vec![Block::default(); blocks]),
    });
    if let Some((wall, cpu)) = started {
        let as_micros = |spent: std::time::Duration| u64::try_from(spent.as_micros()).unwrap_or(u64::MAX);
        let micros = as_micros(wall.elapsed());
        let cpu_micros = cpu.zip(thread_cpu_time()).map(|(before, after)| as_micros(after.saturating_sub(before)));
        tracing::debug!(target: TIMING_TARGET, micros, cpu_micros, blocks, "argon2id");
    }
    result
}

/// The CPU time this thread has run so far, where the platform tells it.
fn thread_cpu_time() -> Option<std::time::Duration> {
    #[cfg(unix)]
    {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `clock_gettime` only writes the `timespec` it is given.
        let read = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0;
        read.then(|| {
            std::time::Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Whether the caller runs on a current-thread runtime: a Lambda function, which serves one
/// request at a time. There hashing runs in place — it blocks nothing else — with one thread's
/// argon2 memory. On the blocking pool, threads come and go, each with its own memory, which
/// a small function cannot afford (BENCHMARKS.md, peak RSS).
fn on_current_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::password::MEMORY_KIB;
    use argon2::password_hash::PasswordHash;
    use argon2::{Algorithm, Argon2, Params, Version};

    #[cfg(unix)]
    #[test]
    fn a_threads_cpu_time_counts_its_hashing() {
        let hasher = SecretHasher::new(None).expect("hasher");
        let before = thread_cpu_time().expect("CPU time");
        hasher.hash("correct horse").expect("hash");
        let spent = thread_cpu_time().expect("CPU time").saturating_sub(before);
        // A 19 MiB, 2-pass hash is two sweeps of 19,456 blocks: well over a millisecond of CPU.
        assert!(spent >= std::time::Duration::from_millis(1), "{spent:?}");
    }

    #[test]
    fn hash_is_argon2id_phc_at_spec_parameters() {
        let hasher = SecretHasher::new(None).expect("hasher");
        let hash = hasher.hash("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(hasher.verify("correct horse", &hash), Verdict::Match);
        assert_eq!(hasher.verify("wrong horse", &hash), Verdict::Mismatch);
        assert_eq!(hasher.verify("correct horse", "not a hash"), Verdict::Mismatch);
    }

    #[test]
    fn hashes_are_interchangeable_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
        let hasher = SecretHasher::with_params(None, 64, 1, 1).expect("hasher");
        let params = Params::new(64, 1, 1, None).expect("params");
        let crate_argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let by_crate = crate_argon2.hash_password(b"pw", &salt).expect("hash").to_string();
        assert_eq!(hasher.verify("pw", &by_crate), Verdict::Match);
        assert_eq!(hasher.verify("pW", &by_crate), Verdict::Mismatch);
        let ours = hasher.hash("pw").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC");
        assert!(crate_argon2.verify_password(b"pw", &parsed).is_ok(), "{ours}");
        // argon2i is still checked (and asks for a rehash).
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(64, 1, 1, None).expect("params"));
        let old = argon2i.hash_password(b"pw", &salt).expect("hash").to_string();
        assert_eq!(hasher.verify("pw", &old), Verdict::MatchNeedsRehash);
    }

    #[test]
    fn working_memory_grows_for_larger_costs_and_is_reused() {
        let small = SecretHasher::with_params(None, 64, 1, 1).expect("hasher");
        let large = SecretHasher::with_params(None, 2048, 1, 1).expect("hasher");
        let first = small.hash("pw").expect("hash");
        let grown = large.hash("pw").expect("hash");
        let again = small.hash("pw").expect("hash");
        for (hasher, hash) in [(&small, &first), (&large, &grown), (&small, &again)] {
            assert_eq!(hasher.verify("pw", hash), Verdict::Match);
            assert_eq!(hasher.verify("pW", hash), Verdict::Mismatch);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn mapped_memory_is_zeroed_writable_and_never_empty() {
        assert!(mapped::Mapped::new(0).is_none());
        let mut memory = mapped::Mapped::new(4096).expect("4 MiB mapped");
        let blocks = memory.blocks();
        assert_eq!(blocks.len(), 4096);
        assert!(blocks.iter().all(|block| block.as_ref().iter().all(|word| *word == 0)));
        blocks[4095].as_mut()[127] = 7;
        assert_eq!(memory.blocks()[4095].as_ref()[127], 7);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn free_huge_blocks_are_counted_from_order_nine_up() {
        let buddyinfo = "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3\n\
                         Node 0, zone    DMA32      4      1      2      2      2      2      1      4      4      2    752\n\
                         Node 0, zone   Normal  15529   5710   1475   1286    810    620    184     61     45     25   1575\n";
        assert_eq!(mapped::count_huge_blocks(buddyinfo), (1 + 3 * 2) + (2 + 752 * 2) + (25 + 1575 * 2));
        assert_eq!(mapped::count_huge_blocks(""), 0);
        assert_eq!(mapped::count_huge_blocks("Node 0, zone Normal 5 4 3"), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn mapped_memory_starts_on_a_huge_page_and_every_block_is_usable() {
        // 19,456 blocks: not a whole number of huge pages, so the mapping is rounded up.
        let mut memory = mapped::Mapped::new(MEMORY_KIB as usize).expect("19 MiB mapped");
        let blocks = memory.blocks();
        assert_eq!(blocks.as_ptr() as usize % (2 << 20), 0);
        assert_eq!(blocks.len(), MEMORY_KIB as usize);
        for block in [0, blocks.len() / 2, blocks.len() - 1] {
            blocks[block].as_mut()[0] = block as u64;
        }
        assert_eq!(memory.blocks()[MEMORY_KIB as usize - 1].as_ref()[0], u64::from(MEMORY_KIB) - 1);
    }

    #[test]
    fn weaker_stored_hash_asks_for_a_rehash() {
        let weak = SecretHasher::with_params(None, 8, 1, 1).expect("hasher");
        let hash = weak.hash("pw").expect("hash");
        let hasher = SecretHasher::new(None).expect("hasher");
        assert_eq!(hasher.verify("pw", &hash), Verdict::MatchNeedsRehash);
    }

    #[test]
    fn a_django_hash_matches_and_asks_for_a_rehash() {
        // Made by Django 5.1's PBKDF2PasswordHasher at 1,000 iterations; a pepper does not apply.
        let django = "pbkdf2_sha256$1000$tJJiBYOeEfg6HlkdXYhTrw$hu9aY4QbaawLd+klAE1w7SMKQcDptObKzgwUFcYPCt4=";
        let hasher = SecretHasher::with_params(Some(b"pepper".to_vec()), 8, 1, 1).expect("hasher");
        assert_eq!(hasher.verify("correct horse battery", django), Verdict::MatchNeedsRehash);
        assert_eq!(hasher.verify("correct horse", django), Verdict::Mismatch);
    }

    #[test]
    fn a_salted_digest_is_checked_once_and_costs_an_argon2_check() {
        // Made by Django 5.2's MD5PasswordHasher (tests/fixtures/django/hashes.json).
        let md5 = "md5$0PxfM7FS0dOxtjvhrA2e1n$29d1d27cfd6ece0c2323698fc46dd7e2";
        let hasher = SecretHasher::with_params(None, 8, 1, 1).expect("hasher");
        assert_eq!(hasher.verify("correct horse battery", md5), Verdict::MatchNeedsRehash);
        assert_eq!(hasher.verify("correct horse", md5), Verdict::Mismatch);
        assert_eq!(hasher.verifications(), 2, "the padding check is not a check of its own");
        assert!(hasher.dummy.get().is_some(), "an argon2 check ran beside the digest");
    }

    #[test]
    fn a_stored_argon2_hash_beyond_the_import_bounds_is_refused_unchecked() {
        let hasher = SecretHasher::with_params(None, 8, 1, 1).expect("hasher");
        // 4 GiB: checking it would allocate that much.
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert_eq!(hasher.verify("anything", huge), Verdict::Mismatch);
    }

    #[test]
    fn pepper_is_part_of_the_hash() {
        let peppered = SecretHasher::with_params(Some(b"pepper".to_vec()), 8, 1, 1).expect("hasher");
        let plain = SecretHasher::with_params(None, 8, 1, 1).expect("hasher");
        let hash = peppered.hash("pw").expect("hash");
        assert_eq!(peppered.verify("pw", &hash), Verdict::Match);
        assert_eq!(plain.verify("pw", &hash), Verdict::Mismatch);
    }
}
