//! The charts BENCHMARKS.md shows, as SVG (plotters; the text is drawn by the viewer): the cold
//! start of each function beside its baseline's, and the memory/latency curve.

use std::path::Path;

use plotters::prelude::*;

/// One bar pair of the cold-start chart.
pub struct ColdBar {
    pub function: String,
    pub cold_ms: f64,
    pub baseline: String,
    pub baseline_ms: f64,
}

const FUNCTION_COLOUR: RGBColor = RGBColor(31, 119, 180);
const BASELINE_COLOUR: RGBColor = RGBColor(170, 170, 170);

type Result<T> = std::result::Result<T, String>;

fn failed<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> String + '_ {
    move |error| format!("{}: {error:?}", path.display())
}

/// Horizontal bars: for each function a line of text (its name, both figures and their
/// ratio), its cold start (p50, blue) and its baseline's (grey) under it.
pub fn cold_start(path: &Path, title: &str, bars: &[ColdBar]) -> Result<()> {
    // Each function takes three units of height: its text, its bar, its baseline's bar.
    let rows = bars.len().max(1);
    let height = 90 + 54 * rows as u32;
    let max = bars.iter().map(|bar| bar.cold_ms.max(bar.baseline_ms)).fold(1.0, f64::max) * 1.05;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(failed(path))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title} (blue: the function, grey: its baseline)"), ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(0)
        .build_cartesian_2d(0f64..max, 0f64..(3 * rows) as f64)
        .map_err(failed(path))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("cold start, ms (median)")
        .x_label_style(("sans-serif", 12))
        .draw()
        .map_err(failed(path))?;
    // Function i's units from the top: 3i..3i+3 counted downwards.
    let top = |i: usize| (3 * (rows - i)) as f64;
    let text = ("sans-serif", 13).into_font();
    for (i, bar) in bars.iter().enumerate() {
        let label = format!(
            "{}: {:.1} ms, {:.2}x its baseline ({}: {:.1} ms)",
            bar.function,
            bar.cold_ms,
            bar.cold_ms / bar.baseline_ms.max(f64::MIN_POSITIVE),
            bar.baseline,
            bar.baseline_ms
        );
        chart
            .draw_series(std::iter::once(Text::new(label, (0.0, top(i) - 0.2), text.clone())))
            .map_err(failed(path))?;
        let bars = [
            Rectangle::new([(0.0, top(i) - 1.15), (bar.cold_ms, top(i) - 1.95)], FUNCTION_COLOUR.filled()),
            Rectangle::new([(0.0, top(i) - 2.05), (bar.baseline_ms, top(i) - 2.7)], BASELINE_COLOUR.filled()),
        ];
        chart.draw_series(bars).map_err(failed(path))?;
    }
    root.present().map_err(failed(path))
}

/// One line of the memory chart: a function's warm p50 (ms) by memory size (MB).
pub struct Curve {
    pub function: String,
    pub points: Vec<(u32, f64)>,
}

/// Warm p50 against memory size, both on log scales, one line per function, in two panels:
/// the functions that hash (`hashing`) and the others.
pub fn memory_curve(path: &Path, title: &str, curves: &[Curve], hashing: &dyn Fn(&str) -> bool) -> Result<()> {
    let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(failed(path))?;
    let root = root.titled(title, ("sans-serif", 18)).map_err(failed(path))?;
    let panels = root.split_evenly((1, 2));
    for (panel, (caption, hashes)) in panels.iter().zip([("routes that hash", true), ("other routes", false)]) {
        let lines: Vec<&Curve> = curves.iter().filter(|curve| hashing(&curve.function) == hashes).collect();
        let values = || lines.iter().flat_map(|curve| curve.points.iter());
        let (low, high) = values().fold((f64::INFINITY, 0f64), |(low, high), (_, ms)| (low.min(*ms), high.max(*ms)));
        let (low, high) = if low.is_finite() { (low * 0.8, high * 1.25) } else { (0.1, 1.0) };
        let memories = || values().map(|(mb, _)| f64::from(*mb));
        let (left, right) = (memories().fold(f64::INFINITY, f64::min), memories().fold(0f64, f64::max));
        let (left, right) = if left.is_finite() { (left * 0.9, right * 1.1) } else { (100.0, 4000.0) };
        let low = low.max(0.01);
        // Ticks at the memory sizes measured, and at 1, 2 and 5 of each power of ten.
        let mut sizes: Vec<f64> = memories().collect();
        sizes.sort_by(f64::total_cmp);
        sizes.dedup();
        let steps: Vec<f64> = (-2..=4)
            .flat_map(|power| [1.0, 2.0, 5.0].map(|step| step * 10f64.powi(power)))
            .filter(|value| (low..=high).contains(value))
            .collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(
                (left..right).log_scale().with_key_points(sizes),
                (low..high).log_scale().with_key_points(steps),
            )
            .map_err(failed(path))?;
        chart
            .configure_mesh()
            .x_desc("memory MB (CPU share: MB / 1769 of a vCPU)")
            .y_desc("warm p50 ms")
            .x_label_formatter(&|mb| format!("{mb:.0}"))
            .y_label_formatter(&|ms| format!("{ms}"))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(failed(path))?;
        for (index, curve) in lines.iter().enumerate() {
            let colour = Palette99::pick(index).to_rgba();
            let points: Vec<(f64, f64)> = curve.points.iter().map(|(mb, ms)| (f64::from(*mb), *ms)).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                .map_err(failed(path))?
                .label(curve.function.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2)));
            chart
                .draw_series(points.into_iter().map(|point| Circle::new(point, 3, colour.filled())))
                .map_err(failed(path))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 11))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(failed(path))?;
    }
    root.present().map_err(failed(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The charts of a small run, written where `STAMPS_CHARTS_DIR` says (to look at them) or
    /// to a temporary directory: every function's label is in them.
    #[test]
    fn both_charts_name_every_function() {
        let dir = std::env::var_os("STAMPS_CHARTS_DIR").map_or_else(std::env::temp_dir, std::path::PathBuf::from);
        let bars = [
            ColdBar {
                function: "pin-validate (1769 MB)".into(),
                cold_ms: 61.0,
                baseline: "dynamo-hash".into(),
                baseline_ms: 55.0,
            },
            ColdBar {
                function: "token-verify (128 MB)".into(),
                cold_ms: 9.5,
                baseline: "hello".into(),
                baseline_ms: 8.0,
            },
        ];
        let cold = dir.join("test-cold-start.svg");
        cold_start(&cold, "Cold start", &bars).expect("cold-start chart");
        let curves = [
            Curve {
                function: "pin-validate".into(),
                points: vec![(128, 420.0), (256, 190.0), (1769, 30.0), (3008, 29.0)],
            },
            Curve { function: "token-verify".into(), points: vec![(128, 2.1), (256, 1.0), (1769, 0.2), (3008, 0.2)] },
        ];
        let memory = dir.join("test-memory-curve.svg");
        memory_curve(&memory, "Warm p50", &curves, &|function| function == "pin-validate").expect("memory chart");
        for (path, names) in
            [(cold, ["pin-validate (1769 MB)", "token-verify (128 MB)"]), (memory, ["pin-validate", "token-verify"])]
        {
            let svg = std::fs::read_to_string(&path).expect("written");
            for name in names {
                assert!(svg.contains(name), "{} lacks {name}", path.display());
            }
        }
    }
}
