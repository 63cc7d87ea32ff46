//! A customer's security state as support needs it (docs/api.md section 11.1): is the PIN set,
//! how many failures count and when they stop counting, is the password throttled and until
//! when, how many OTP requests are left in the window, and what became of the last delivery
//! (and which addresses are not sent to). Read from the same records the routes decide by,
//! against the request's clock, so a block that has expired reads as lifted.
//!
//! `customer_status` is what the `customer-status` route, the CLI and a support console call.

use serde::Serialize;

use crate::App;
use crate::error::ApiError;
use crate::handlers::otp::request_limit;
use crate::handlers::password::throttle;
use crate::store::{Customer, DeliveryOutcome, Suppression, keys};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinStatus {
    pub set: bool,
    /// Wrong PINs counted in the current window.
    pub failures: u32,
    pub max_failures: u32,
    pub blocked: bool,
    /// When the failures stop counting (and a block lifts), epoch seconds.
    pub failures_reset_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswordStatus {
    pub set: bool,
    /// Wrong passwords counted in the current window.
    pub failures: u32,
    pub max_failures: u32,
    pub throttled: bool,
    /// While throttled: when checks are allowed again.
    pub throttled_until: Option<i64>,
    /// When the current window ends.
    pub window_resets_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtpStatus {
    /// Requests counted in the current window (PIN and password resets together).
    pub requests: u32,
    pub limit: u32,
    pub left: u32,
    pub window_resets_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryStatus {
    pub last: Option<DeliveryOutcome>,
    /// Addresses of the customer's that are not sent to (until the merchant updates them).
    pub suppressed: Vec<Suppression>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerStatus {
    pub user: u64,
    pub pin: PinStatus,
    pub password: PasswordStatus,
    pub otp: OtpStatus,
    pub delivery: DeliveryStatus,
}

/// The state of `customer` now. Storage: 4 reads, in parallel (PIN, password throttle, OTP
/// request count, deliveries).
pub async fn customer_status(app: &App, customer: &Customer) -> Result<CustomerStatus, ApiError> {
    let store = app.store()?;
    let now = app.clock.now();
    let (merchant_id, id) = (customer.merchant_id, customer.id);
    let password_key = keys::password_failures(merchant_id, id);
    let otp_key = keys::otp_requests(merchant_id, id);
    let (pin, password, otp, delivery) = tokio::join!(
        store.pin_state(merchant_id, id),
        store.counter(&password_key, now),
        store.counter(&otp_key, now),
        store.delivery_state(merchant_id, id),
    );
    let (pin, password, otp, delivery) = (pin?, password?, otp?, delivery?);

    let max_pin = app.config.pin_max_failures;
    let live_pin = pin.filter(|state| state.failures > 0 && state.failures_expire_at > now);
    let pin_failures = live_pin.map_or(0, |state| state.failures);
    let pin = PinStatus {
        set: pin.is_some(),
        failures: pin_failures,
        max_failures: max_pin,
        blocked: pin_failures >= max_pin,
        failures_reset_at: live_pin.map(|state| state.failures_expire_at),
    };

    let max_password = throttle(app).limit;
    let throttled = password.count >= max_password;
    let password = PasswordStatus {
        set: customer.password_hash.is_some(),
        failures: password.count,
        max_failures: max_password,
        throttled,
        throttled_until: password.expires_at.filter(|_| throttled),
        window_resets_at: password.expires_at,
    };

    let limit = request_limit(app).limit;
    let otp = OtpStatus {
        requests: otp.count,
        limit,
        left: limit.saturating_sub(otp.count),
        window_resets_at: otp.expires_at,
    };

    // Only the suppressions of addresses the customer still has: an updated address is sent to.
    let current = |suppression: &Suppression| {
        match suppression.channel {
            crate::delivery::Channel::Email => customer.email.as_deref(),
            crate::delivery::Channel::Sms => customer.mobile.as_deref(),
        }
        .is_some_and(|address| address.eq_ignore_ascii_case(&suppression.address))
    };
    let suppressed = delivery.suppressed.iter().filter(|s| current(s)).cloned().collect();
    Ok(CustomerStatus { user: id, pin, password, otp, delivery: DeliveryStatus { last: delivery.last, suppressed } })
}
