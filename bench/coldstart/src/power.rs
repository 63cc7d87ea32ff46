//! The memory/latency curve (`--memory`): each function's cold and warm latency and its billed
//! GB-seconds per invocation at each memory size, under that size's CPU share (`cpu_share`),
//! as AWS Lambda Power Tuning measures them on AWS; and the memory size chosen from it.
//!
//! Billing as Lambda bills an arm64 function on `provided.al2023`: each invocation's duration
//! rounded up to the millisecond, times the memory; a cold start's init is billed with its
//! first invocation (a custom runtime's init always was; every runtime's is since August 2025).
//! The duration measured here runs from the event handed to the function to its answer posted,
//! as Lambda's does.

use std::fmt::Write as _;
use std::time::Duration;

use crate::{Figures, median, percentile};

/// Of the settings whose cost is within this of the cheapest, the fastest is chosen.
pub const COST_TOLERANCE: f64 = 1.10;

/// A memory size: `None` is the whole machine (no quota), the harness's reference.
pub fn label(memory: Option<u32>) -> String {
    memory.map_or_else(|| "full".to_string(), |mb| mb.to_string())
}

/// GB-seconds billed for an invocation of `duration` at `memory_mb`.
pub fn billed_gb_seconds(duration: Duration, memory_mb: u32) -> f64 {
    let billed_ms = (duration.as_secs_f64() * 1000.0).ceil().max(1.0);
    billed_ms / 1000.0 * f64::from(memory_mb) / 1024.0
}

/// One function at one memory size.
#[derive(Clone, Debug)]
pub struct Point {
    pub memory: u32,
    pub cold_p50: Duration,
    pub cold_p99: Duration,
    pub warm_p50: Duration,
    pub warm_p99: Duration,
    /// Mean billed GB-seconds of a warm invocation, and of a cold one (init included).
    pub warm_gb_s: f64,
    pub cold_gb_s: f64,
}

impl Point {
    pub fn of(row: &Figures, memory: u32) -> Point {
        let mean = |values: &[Duration]| {
            values.iter().map(|d| billed_gb_seconds(*d, memory)).sum::<f64>() / values.len().max(1) as f64
        };
        Point {
            memory,
            cold_p50: median(&row.cold),
            cold_p99: percentile(&row.cold, 0.99),
            warm_p50: median(&row.warm),
            warm_p99: percentile(&row.warm, 0.99),
            warm_gb_s: mean(&row.warm),
            cold_gb_s: mean(&row.cold),
        }
    }
}

/// What one call of a function costs: the price of a GB-second of its duration, and what the
/// call costs whatever the memory size (the Lambda and HTTP API requests, DynamoDB's request
/// units, SNS and SES). The choice weighs the whole call, as the bill does: a size that doubles
/// the GB-seconds of a call that is mostly DynamoDB's price changes little of what a merchant
/// pays.
#[derive(Clone, Copy, Debug)]
pub struct CallPrice {
    pub per_gb_second: f64,
    pub fixed: f64,
}

impl CallPrice {
    /// Without prices: the GB-seconds alone.
    pub const DURATION_ONLY: CallPrice = CallPrice { per_gb_second: 1.0, fixed: 0.0 };

    /// A warm call at `point`'s memory size.
    pub fn of(&self, point: &Point) -> f64 {
        self.fixed + self.per_gb_second * point.warm_gb_s
    }
}

/// The memory size whose warm call costs within `COST_TOLERANCE` of the cheapest while its warm
/// p50 is the lowest (the smaller size on a tie).
pub fn choose(points: &[Point], price: CallPrice) -> Option<&Point> {
    let cheapest = price.of(cheapest(points, price)?);
    points
        .iter()
        .filter(|point| price.of(point) <= cheapest * COST_TOLERANCE)
        .min_by(|a, b| a.warm_p50.cmp(&b.warm_p50).then(a.memory.cmp(&b.memory)))
}

/// The cheapest memory size of a curve.
pub fn cheapest(points: &[Point], price: CallPrice) -> Option<&Point> {
    points.iter().min_by(|a, b| price.of(a).total_cmp(&price.of(b)).then(a.memory.cmp(&b.memory)))
}

/// Each function's call price, by name.
pub type Prices<'a> = dyn Fn(&str) -> CallPrice + 'a;

/// Each function's (or baseline's) name with its points by memory size, in the rows' order.
pub fn curves(rows: &[Figures]) -> Vec<(String, Vec<Point>)> {
    let mut curves: Vec<(String, Vec<Point>)> = Vec::new();
    for row in rows {
        let Some(memory) = row.memory else { continue };
        let point = Point::of(row, memory);
        match curves.iter_mut().find(|(name, _)| *name == row.name) {
            Some((_, points)) => points.push(point),
            None => curves.push((row.name.clone(), vec![point])),
        }
    }
    for (_, points) in &mut curves {
        points.sort_by_key(|point| point.memory);
    }
    curves
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

/// The curve as a Markdown table: per function and memory size, the CPU share, cold and warm
/// p50/p99, and the mean billed GB-seconds per warm and per cold invocation (in millionths).
pub fn curve_table(rows: &[Figures], cores: usize, price_of: &Prices) -> String {
    let mut out = String::new();
    let full = |name: &str| rows.iter().find(|row| row.name == name && row.memory.is_none());
    let _ = writeln!(
        out,
        "| function | memory MB | CPU share | cold p50 ms | cold p99 ms | warm p50 ms | warm p99 ms | warm p50 over full \
         CPU | GB-s per warm call (µ) | GB-s per cold call (µ) | chosen |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (name, points) in curves(rows) {
        let chosen = choose(&points, price_of(&name)).map(|point| point.memory);
        let reference = full(&name).map(|row| median(&row.warm));
        for point in &points {
            let over_full = reference.filter(|full| !full.is_zero()).map_or_else(
                || "-".into(),
                |full| format!("{:.2}x", point.warm_p50.as_secs_f64() / full.as_secs_f64()),
            );
            let _ = writeln!(
                out,
                "| {name} | {} | {:.3} | {} | {} | {} | {} | {over_full} | {:.1} | {:.1} | {} |",
                point.memory,
                crate::cpu_share::cpus_for(point.memory, cores),
                ms(point.cold_p50),
                ms(point.cold_p99),
                ms(point.warm_p50),
                ms(point.warm_p99),
                point.warm_gb_s * 1e6,
                point.cold_gb_s * 1e6,
                if chosen == Some(point.memory) { "**chosen**" } else { "" },
            );
        }
    }
    out
}

/// The choice per function (not the baselines): the memory size, its figures, the cheapest
/// setting's, and the cost ratios: of the whole call (what the choice weighs) and of the
/// GB-seconds alone.
pub fn choice_table(rows: &[Figures], price_of: &Prices) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| function | chosen MB | warm p50 ms | cold p50 ms | GB-s per warm call (µ) | $ per million calls | cheapest \
         MB | its warm p50 ms | its $ per million calls | call cost over the cheapest | GB-s over the cheapest |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, points) in curves(rows).iter().filter(|(name, _)| !name.starts_with("baseline-")) {
        let price = price_of(name);
        let (Some(chosen), Some(cheapest)) = (choose(points, price), self::cheapest(points, price)) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {:.1} | {:.2} | {} | {} | {:.2} | {:.2}x | {:.2}x |",
            chosen.memory,
            ms(chosen.warm_p50),
            ms(chosen.cold_p50),
            chosen.warm_gb_s * 1e6,
            price.of(chosen) * 1e6,
            cheapest.memory,
            ms(cheapest.warm_p50),
            price.of(cheapest) * 1e6,
            price.of(chosen) / price.of(cheapest).max(f64::MIN_POSITIVE),
            chosen.warm_gb_s / cheapest.warm_gb_s.max(f64::MIN_POSITIVE),
        );
    }
    out
}

/// The memory table the template and the deployment test are checked against: one line per
/// function, `function,memory_mb`, sorted by name.
pub fn memory_csv(rows: &[Figures], price_of: &Prices) -> String {
    let mut chosen: Vec<(String, u32)> = curves(rows)
        .iter()
        .filter(|(name, _)| !name.starts_with("baseline-") && !name.ends_with(crate::COMPARED))
        .filter_map(|(name, points)| Some((name.clone(), choose(points, price_of(name))?.memory)))
        .collect();
    chosen.sort();
    let mut out = String::from("function,memory_mb\n");
    for (name, memory) in chosen {
        let _ = writeln!(out, "{name},{memory}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(memory: u32, warm_ms: u64, gb_s: f64) -> Point {
        Point {
            memory,
            cold_p50: Duration::ZERO,
            cold_p99: Duration::ZERO,
            warm_p50: Duration::from_millis(warm_ms),
            warm_p99: Duration::ZERO,
            warm_gb_s: gb_s,
            cold_gb_s: 0.0,
        }
    }

    #[test]
    fn billing_rounds_each_invocation_up_to_the_millisecond() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(billed_gb_seconds(Duration::from_micros(1_100), 1024), 0.002));
        assert!(close(billed_gb_seconds(Duration::from_micros(10), 512), 0.0005));
    }

    #[test]
    fn the_fastest_setting_within_the_tolerance_of_the_cheapest_is_chosen() {
        // 256 is cheapest; 1024 costs 1.08x and is faster; 1769 costs 1.2x.
        let points = [point(128, 400, 0.060), point(256, 200, 0.050), point(1024, 30, 0.054), point(1769, 20, 0.060)];
        assert_eq!(choose(&points, CallPrice::DURATION_ONLY).map(|p| p.memory), Some(1024));
        // A tie on p50 goes to the smaller size.
        let points = [point(128, 3, 0.0001), point(256, 3, 0.0001)];
        assert_eq!(choose(&points, CallPrice::DURATION_ONLY).map(|p| p.memory), Some(128));
    }

    #[test]
    fn what_a_call_costs_whatever_the_memory_size_weighs_in_the_choice() {
        // 1769 costs 1.8x the GB-seconds of 128, but the call's fixed price makes it 1.05x.
        let points = [point(128, 300, 0.000_040), point(1769, 40, 0.000_072)];
        let duration_only = CallPrice { per_gb_second: 0.000_013_333_4, fixed: 0.0 };
        assert_eq!(choose(&points, duration_only).map(|p| p.memory), Some(128));
        let whole_call = CallPrice { fixed: 0.000_008, ..duration_only };
        assert_eq!(choose(&points, whole_call).map(|p| p.memory), Some(1769));
    }
}
