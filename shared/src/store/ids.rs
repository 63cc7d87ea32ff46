//! IDs handed out from blocks. A store instance (a process: a Lambda function, the local
//! server, the CLI) reserves a block of a sequence's IDs with one atomic write of the sequence
//! and hands them out from memory, so that the sequence's one item or row is written once per
//! block instead of once per ID (docs/capacity.md has the arithmetic). Blocks are disjoint
//! because each reservation moves the sequence past its whole block atomically; what a process
//! does not use before it ends is a gap, never a repeat.

use std::future::Future;
use std::ops::RangeInclusive;

use tokio::sync::Mutex;

use super::{Sequence, StoreError, StoreResult};

/// The customer IDs one store instance reserves at a time. With DynamoDB's 1,000 writes per
/// second on the sequence's item, registrations and imports are capped at 1,000 x this per
/// second by the sequence (docs/capacity.md); each process start leaves at most this many
/// minus one IDs unused.
pub const CUSTOMER_ID_BLOCK: u64 = 100;

impl Sequence {
    /// How many IDs one reservation takes. Merchants are created by an operator, one at a
    /// time, so their IDs stay consecutive.
    pub const fn block_size(self) -> u64 {
        match self {
            Sequence::Merchant => 1,
            Sequence::Customer => CUSTOMER_ID_BLOCK,
        }
    }
}

/// The blocks a store instance holds, one per sequence. Clones of a store share them.
#[derive(Debug, Default)]
pub struct IdBlocks {
    merchant: Mutex<Option<RangeInclusive<u64>>>,
    customer: Mutex<Option<RangeInclusive<u64>>>,
}

impl IdBlocks {
    fn slot(&self, sequence: Sequence) -> &Mutex<Option<RangeInclusive<u64>>> {
        match sequence {
            Sequence::Merchant => &self.merchant,
            Sequence::Customer => &self.customer,
        }
    }

    /// The next ID of `sequence`: from the block held, or from a new one that `reserve` takes.
    /// `reserve(size)` moves the stored sequence on by `size` in one atomic write and answers
    /// its new value, the last ID of the block. Concurrent callers in one process wait for
    /// one reservation instead of each making their own.
    pub async fn next<F, Fut>(&self, sequence: Sequence, reserve: F) -> StoreResult<u64>
    where
        F: FnOnce(u64) -> Fut,
        Fut: Future<Output = StoreResult<u64>>,
    {
        let mut held = self.slot(sequence).lock().await;
        if let Some(id) = held.as_mut().and_then(Iterator::next) {
            return Ok(id);
        }
        let size = sequence.block_size();
        let last = reserve(size).await?;
        // The stored value is the last ID handed out before, plus `size`; an import may have
        // moved it past its own IDs in between, which only moves the block on.
        let first = last.checked_sub(size - 1).filter(|first| *first > 0).ok_or_else(|| {
            StoreError::Internal(format!("{} sequence at {last}: no block of {size}", sequence.name()))
        })?;
        let mut block = first..=last;
        let id = block.next();
        *held = Some(block);
        id.ok_or_else(|| StoreError::Internal("empty ID block".into()))
    }

    /// Drops what is left of the block held: an ID of it was found taken (an import wrote it
    /// after the block was reserved), so the rest is likely taken too, and the next ID comes
    /// from a new block, past the import.
    pub async fn discard(&self, sequence: Sequence) {
        *self.slot(sequence).lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A sequence in memory, moved on atomically like the stores' item or row.
    fn counter() -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(0))
    }

    async fn take(blocks: &IdBlocks, sequence: Sequence, stored: &Arc<AtomicU64>) -> u64 {
        let stored = Arc::clone(stored);
        blocks
            .next(sequence, |size| async move { Ok(stored.fetch_add(size, Ordering::SeqCst) + size) })
            .await
            .expect("id")
    }

    #[tokio::test]
    async fn one_reservation_serves_a_block_and_the_next_starts_past_it() {
        let (blocks, stored) = (IdBlocks::default(), counter());
        let ids: Vec<u64> = take_many(&blocks, Sequence::Customer, &stored, CUSTOMER_ID_BLOCK + 1).await;
        assert_eq!(ids, (1..=CUSTOMER_ID_BLOCK + 1).collect::<Vec<_>>());
        assert_eq!(stored.load(Ordering::SeqCst), 2 * CUSTOMER_ID_BLOCK, "two reservations");
    }

    #[tokio::test]
    async fn merchants_are_not_reserved_ahead() {
        let (blocks, stored) = (IdBlocks::default(), counter());
        assert_eq!(take(&blocks, Sequence::Merchant, &stored).await, 1);
        assert_eq!(take(&blocks, Sequence::Merchant, &stored).await, 2);
        assert_eq!(stored.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn two_instances_get_disjoint_blocks_and_a_discarded_block_is_left_behind() {
        let (first, second, stored) = (IdBlocks::default(), IdBlocks::default(), counter());
        assert_eq!(take(&first, Sequence::Customer, &stored).await, 1);
        assert_eq!(take(&second, Sequence::Customer, &stored).await, CUSTOMER_ID_BLOCK + 1);
        assert_eq!(take(&first, Sequence::Customer, &stored).await, 2);
        first.discard(Sequence::Customer).await;
        assert_eq!(take(&first, Sequence::Customer, &stored).await, 2 * CUSTOMER_ID_BLOCK + 1);
    }

    #[tokio::test]
    async fn a_failed_reservation_is_an_error_and_the_next_call_tries_again() {
        let (blocks, stored) = (IdBlocks::default(), counter());
        let failed = blocks.next(Sequence::Customer, |_| async { Err(StoreError::Unavailable("down".into())) }).await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))));
        assert_eq!(take(&blocks, Sequence::Customer, &stored).await, 1);
        // A stored value too small for a whole block would hand out 0 or less: refused.
        let short = blocks.next(Sequence::Merchant, |_| async { Ok(0) }).await;
        assert!(matches!(short, Err(StoreError::Internal(_))));
    }

    async fn take_many(blocks: &IdBlocks, sequence: Sequence, stored: &Arc<AtomicU64>, n: u64) -> Vec<u64> {
        let mut ids = Vec::new();
        for _ in 0..n {
            ids.push(take(blocks, sequence, stored).await);
        }
        ids
    }
}
