//! What the request (or queue batch) being served is: the function serving it, the client's
//! address, and the metrics its handler counted. `http::respond` and the queue workers set it
//! around each invocation; the domain reads it where it decides something worth a metric
//! (`metrics::count`) or a line in a customer's history (`history`), so that the route and the
//! source IP need not be passed through every handler. Outside a scope (an operator command, a
//! unit test) nothing is counted and the route reads as `None`.

use std::cell::RefCell;
use std::future::Future;
use std::net::IpAddr;

use crate::delivery::Channel;
use crate::metrics::Metric;

/// One value a handler counted: `value` of `metric`, for `channel` when it is a delivery's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count {
    pub metric: Metric,
    pub channel: Option<Channel>,
    pub value: f64,
}

struct Current {
    function: &'static str,
    source_ip: Option<IpAddr>,
    counts: RefCell<Vec<Count>>,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// Runs `work` as the invocation of `function` from `source_ip`; returns its output and what
/// it counted.
pub async fn scope<F: Future>(function: &'static str, source_ip: Option<IpAddr>, work: F) -> (F::Output, Vec<Count>) {
    let current = Current { function, source_ip, counts: RefCell::new(Vec::new()) };
    CURRENT
        .scope(current, async move {
            let output = work.await;
            let counts = CURRENT.with(|current| current.counts.take());
            (output, counts)
        })
        .await
}

/// The function serving the current invocation.
pub fn function() -> Option<&'static str> {
    CURRENT.try_with(|current| current.function).ok()
}

/// The client's address as the edge saw it, when there is one.
pub fn source_ip() -> Option<IpAddr> {
    CURRENT.try_with(|current| current.source_ip).ok().flatten()
}

/// Adds `count` to the current invocation's (nothing outside a scope).
pub(crate) fn add(count: Count) {
    let _ = CURRENT.try_with(|current| current.counts.borrow_mut().push(count));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_stay_inside_their_scope() {
        add(Count { metric: Metric::PinFailures, channel: None, value: 1.0 });
        assert_eq!(function(), None);
        let ip: IpAddr = "203.0.113.7".parse().expect("address");
        let ((function_seen, ip_seen), counts) = scope("pin-validate", Some(ip), async {
            add(Count { metric: Metric::PinFailures, channel: None, value: 1.0 });
            // Two branches of one `join!` run in the same task: both count.
            tokio::join!(async { add(Count { metric: Metric::PinBlocks, channel: None, value: 1.0 }) }, async {
                add(Count { metric: Metric::PinFailures, channel: None, value: 1.0 })
            });
            (function(), source_ip())
        })
        .await;
        assert_eq!((function_seen, ip_seen), (Some("pin-validate"), Some(ip)));
        let metrics: Vec<Metric> = counts.iter().map(|count| count.metric).collect();
        assert_eq!(metrics, [Metric::PinFailures, Metric::PinBlocks, Metric::PinFailures]);
        assert_eq!(source_ip(), None);
    }
}
