//! The rules of windowed limits, the PIN lockout and one-time codes, each decided once: pure
//! functions of (stored state, policy, now). The SQLite store applies them inside its
//! transactions; the DynamoDB store states them as condition expressions (its atomic form),
//! and the model-based test (tests/tests/api/rules_model.rs) checks both stores against these
//! functions.

/// How a counter's window moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The window restarts at every counted event: "N within T of the last one".
    Sliding,
    /// The window starts at the first counted event: "N per T".
    Fixed,
}

/// A windowed limit, e.g. PIN failures of a customer or OTP requests of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterPolicy {
    pub limit: u32,
    pub window_secs: i64,
    pub window: Window,
}

impl CounterPolicy {
    /// The expiry of a counter after a granted reservation, from its previous live expiry.
    pub fn next_expiry(self, live_expiry: Option<i64>, now: i64) -> i64 {
        match (self.window, live_expiry) {
            (Window::Fixed, Some(expires_at)) if expires_at > now => expires_at,
            _ => now.saturating_add(self.window_secs),
        }
    }
}

/// The answer to a reservation: was a slot granted, and the count after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub granted: bool,
    /// The count including this reservation when granted; the current count when refused.
    pub count: u32,
    pub expires_at: i64,
}

impl Reservation {
    /// What to store after a granted reservation.
    pub fn counted(self) -> Counted {
        Counted { count: self.count, expires_at: self.expires_at }
    }
}

/// A counter's state as read now; an expired counter reads as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterState {
    pub count: u32,
    pub expires_at: Option<i64>,
}

/// A windowed count as stored: it counts while `expires_at > now`. Zero failures are stored
/// with `expires_at` 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counted {
    pub count: u32,
    pub expires_at: i64,
}

impl Counted {
    /// The count still counting at `now`: a count whose window has passed is absent, whether
    /// or not anyone cleaned it up.
    pub fn live(stored: Option<Counted>, now: i64) -> Option<Counted> {
        stored.filter(|counted| counted.expires_at > now)
    }
}

/// Counts one event under `policy` if the window has room. When granted, the store keeps
/// `Reservation::counted`; when refused it keeps what it has.
pub fn reserve(stored: Option<Counted>, policy: CounterPolicy, now: i64) -> Reservation {
    let live = Counted::live(stored, now);
    let count = live.map_or(0, |counted| counted.count);
    if count >= policy.limit {
        return Reservation { granted: false, count, expires_at: live.map_or(now, |counted| counted.expires_at) };
    }
    let expires_at = policy.next_expiry(live.map(|counted| counted.expires_at), now);
    Reservation { granted: true, count: count + 1, expires_at }
}

/// Gives one event back: the state to store, `None` when nothing changes (nothing counted in a
/// live window).
pub fn release(stored: Option<Counted>, now: i64) -> Option<Counted> {
    Counted::live(stored, now)
        .filter(|counted| counted.count > 0)
        .map(|counted| Counted { count: counted.count - 1, ..counted })
}

/// A counter as read at `now`.
pub fn read(stored: Option<Counted>, now: i64) -> CounterState {
    match Counted::live(stored, now) {
        Some(counted) => CounterState { count: counted.count, expires_at: Some(counted.expires_at) },
        None => CounterState::default(),
    }
}

/// The PIN lockout (see `domain::pin`): reserves attempt number `count` of the window, which
/// restarts at every attempt, before the PIN is checked. `None`: blocked, the PIN must not be
/// evaluated. `Some`: the failures to store.
pub fn reserve_pin_attempt(failures: Counted, policy: CounterPolicy, now: i64) -> Option<Counted> {
    let sliding = CounterPolicy { window: Window::Sliding, ..policy };
    let reservation = reserve(Some(failures), sliding, now);
    reservation.granted.then(|| reservation.counted())
}

/// Failures after a right PIN, an unblock or a new PIN: none.
pub const NO_FAILURES: Counted = Counted { count: 0, expires_at: 0 };

/// Whether a one-time code stored with `expires_at` is live at `now`.
pub fn otp_live(expires_at: i64, now: i64) -> bool {
    expires_at > now
}

/// Uses one try of a code before it is checked, so parallel guesses cannot exceed the tries:
/// the tries to store, `None` when the code has expired or its tries are used up.
pub fn use_otp_try(tries: u32, expires_at: i64, max_tries: u32, now: i64) -> Option<u32> {
    (otp_live(expires_at, now) && tries < max_tries).then_some(tries + 1)
}

/// Whether the code stored as `stored_hash` is consumed by a request presenting `presented`:
/// it must still be live, and be the one that request checked (not replaced since).
pub fn otp_consumable(stored_hash: &str, expires_at: i64, presented: &str, now: i64) -> bool {
    otp_live(expires_at, now) && super::secrets::secrets_match(stored_hash, presented)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: CounterPolicy = CounterPolicy { limit: 2, window_secs: 100, window: Window::Fixed };
    const SLIDING: CounterPolicy = CounterPolicy { limit: 2, window_secs: 100, window: Window::Sliding };

    fn counted(count: u32, expires_at: i64) -> Option<Counted> {
        Some(Counted { count, expires_at })
    }

    #[test]
    fn a_fixed_window_keeps_its_first_expiry_and_refuses_past_the_limit() {
        let first = reserve(None, FIXED, 1_000);
        assert_eq!(first, Reservation { granted: true, count: 1, expires_at: 1_100 });
        let second = reserve(Some(first.counted()), FIXED, 1_050);
        assert_eq!(second, Reservation { granted: true, count: 2, expires_at: 1_100 });
        let refused = reserve(Some(second.counted()), FIXED, 1_099);
        assert_eq!(refused, Reservation { granted: false, count: 2, expires_at: 1_100 });
        // At the expiry the window has passed: a new one starts.
        assert_eq!(reserve(Some(second.counted()), FIXED, 1_100).count, 1);
    }

    #[test]
    fn a_sliding_window_restarts_at_every_event() {
        let first = reserve(None, SLIDING, 1_000);
        let second = reserve(Some(first.counted()), SLIDING, 1_050);
        assert_eq!(second, Reservation { granted: true, count: 2, expires_at: 1_150 });
    }

    #[test]
    fn a_release_gives_back_only_a_live_event() {
        assert_eq!(release(counted(2, 1_100), 1_000), counted(1, 1_100));
        assert_eq!(release(counted(0, 1_100), 1_000), None);
        assert_eq!(release(counted(2, 1_000), 1_000), None);
        assert_eq!(read(counted(2, 1_000), 1_000), CounterState::default());
        assert_eq!(read(counted(2, 1_001), 1_000), CounterState { count: 2, expires_at: Some(1_001) });
    }

    #[test]
    fn the_pin_lockout_blocks_at_the_limit_until_the_window_passes() {
        let policy = CounterPolicy { limit: 3, window_secs: 200, window: Window::Sliding };
        assert_eq!(reserve_pin_attempt(NO_FAILURES, policy, 1_000), counted(1, 1_200));
        assert_eq!(reserve_pin_attempt(Counted { count: 2, expires_at: 1_100 }, policy, 1_000), counted(3, 1_200));
        assert_eq!(reserve_pin_attempt(Counted { count: 3, expires_at: 1_100 }, policy, 1_000), None);
        assert_eq!(reserve_pin_attempt(Counted { count: 3, expires_at: 1_100 }, policy, 1_100), counted(1, 1_300));
    }

    #[test]
    fn a_code_is_tried_and_consumed_only_while_live() {
        assert_eq!(use_otp_try(0, 1_100, 3, 1_000), Some(1));
        assert_eq!(use_otp_try(3, 1_100, 3, 1_000), None);
        assert_eq!(use_otp_try(0, 1_000, 3, 1_000), None);
        assert!(otp_consumable("a", 1_100, "a", 1_000));
        assert!(!otp_consumable("a", 1_100, "b", 1_000));
        assert!(!otp_consumable("a", 1_000, "a", 1_000));
    }
}
