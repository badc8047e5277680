//! `compare --svg FILE`: the comparison as charts, stacked in one SVG file.
//!
//! 1. Outcomes: each row's requests split into accepted, rejected and errors (as shares, with
//!    the counts written beside the bar), so stage 7's "2% accepted" is seen at a glance.
//! 2. Latency: p50, p90 and p99 of all requests per row, on a log scale (stage 3 answers in
//!    microseconds, stage 4 in seconds).
//! 3. Throughput: with `--sweep`, measured server jobs/s against the swept knob, one line per
//!    stage, with the model as a dashed line of the same colour; without a sweep, measured
//!    jobs/s beside the model bound for each row.
//!
//! Drawn with plotters' SVG backend only; text is left to the SVG viewer's sans-serif font.
//! Tested by `cargo test -p stress-client compare::chart`.

use super::{CompareReport, RowResult};
use crate::latency::format_micros;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const WIDTH: u32 = 1100;
const ROW_HEIGHT: u32 = 30;
const CHART_CHROME: u32 = 140;
const LABEL_CHARS: usize = 44;

const ACCEPTED: RGBColor = RGBColor(46, 160, 67);
const REJECTED: RGBColor = RGBColor(232, 145, 45);
const ERRORS: RGBColor = RGBColor(205, 45, 45);
const P50: RGBColor = RGBColor(158, 202, 225);
const P90: RGBColor = RGBColor(66, 146, 198);
const P99: RGBColor = RGBColor(8, 69, 148);
const MODEL: RGBColor = RGBColor(150, 150, 150);
const SERIES: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn draw_error(error: impl std::fmt::Display) -> String {
    format!("drawing the SVG chart failed: {error}")
}

/// The SVG document as a string.
pub fn render_svg(report: &CompareReport) -> Result<String, String> {
    let rows = report.rows.len() as u32;
    let bar_chart_height = CHART_CHROME + ROW_HEIGHT * rows.max(1);
    let sweep = sweep_series(report);
    let throughput_height = if sweep.is_empty() {
        bar_chart_height
    } else {
        460
    };
    let heights = [bar_chart_height, bar_chart_height, throughput_height];
    let total: u32 = heights.iter().sum();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, total)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let (outcomes, rest) = root.split_vertically(heights[0]);
        let (latency, throughput) = rest.split_vertically(heights[1]);
        draw_outcomes(&root, &outcomes, &report.rows)?;
        draw_latency(&root, &latency, &report.rows)?;
        if sweep.is_empty() {
            draw_throughput_bars(&root, &throughput, &report.rows)?;
        } else {
            draw_sweep(&throughput, report, &sweep)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

pub fn write_svg(path: &Path, report: &CompareReport) -> Result<(), String> {
    let svg = render_svg(report)?;
    std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The row's label without the `(quick: …)` suffix, which the table carries: on a chart it
/// would push the part that tells rows apart out of the label area.
fn row_label(row: &RowResult) -> String {
    let label = &row.plan.label;
    let mut label = match label.find(" (quick: ") {
        Some(at) => label[..at].to_string(),
        None => label.clone(),
    };
    if label.chars().count() > LABEL_CHARS {
        label = label.chars().take(LABEL_CHARS - 1).collect::<String>() + "…";
    }
    label
}

fn label_area_width(rows: &[RowResult]) -> u32 {
    let longest = rows
        .iter()
        .map(|row| row_label(row).chars().count())
        .max()
        .unwrap_or(10);
    (longest as u32) * 7 + 16
}

/// Row `index` occupies the band `[n - index - 1, n - index]` of the y axis, so row 1 is on
/// top, as in the table.
fn band(rows: usize, index: usize) -> (f64, f64) {
    let top = (rows - index) as f64;
    (top - 1.0, top)
}

/// Row labels are drawn on the root area in pixels, left of the plot: plotters' own tick
/// labels sit at tick positions, not at the centre of each bar.
fn draw_row_labels<X, Y>(
    root: &Area,
    chart: &ChartContext<SVGBackend, Cartesian2d<X, Y>>,
    rows: &[RowResult],
    x_left: X::ValueType,
) -> Result<(), String>
where
    X: Ranged,
    Y: Ranged<ValueType = f64>,
    X::ValueType: Clone,
{
    let style = TextStyle::from(("sans-serif", 13).into_font())
        .pos(Pos::new(HPos::Right, VPos::Center))
        .color(&BLACK);
    for (index, row) in rows.iter().enumerate() {
        let (low, high) = band(rows.len(), index);
        let (x, y) = chart.backend_coord(&(x_left.clone(), (low + high) / 2.0));
        let color = if row.ok { &BLACK } else { &ERRORS };
        root.draw(&Text::new(row_label(row), (x - 8, y), style.color(color)))
            .map_err(draw_error)?;
    }
    Ok(())
}

/// What a legend entry looks like: a filled box (bars) or a short vertical stroke (a bound).
#[derive(Clone, Copy)]
enum Mark {
    Box(RGBColor),
    Stroke(RGBColor),
}

/// A one-line legend under the x axis, ending at the plot's right edge: inside the plot it
/// would hide the bars of the last rows.
fn draw_legend<X: Ranged, Y: Ranged>(
    root: &Area,
    chart: &ChartContext<SVGBackend, Cartesian2d<X, Y>>,
    items: &[(&str, Mark)],
) -> Result<(), String> {
    let (x_range, y_range) = chart.plotting_area().get_pixel_range();
    let y = y_range.end + 36;
    let widths: Vec<i32> = items
        .iter()
        .map(|(name, _)| 22 + 7 * name.chars().count() as i32 + 14)
        .collect();
    let mut x = x_range.end - widths.iter().sum::<i32>();
    let font = ("sans-serif", 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for ((name, mark), width) in items.iter().zip(widths) {
        match *mark {
            Mark::Box(color) => root.draw(&Rectangle::new(
                [(x, y - 6), (x + 14, y + 6)],
                color.filled(),
            )),
            Mark::Stroke(color) => root.draw(&PathElement::new(
                vec![(x + 7, y - 8), (x + 7, y + 8)],
                color.stroke_width(3),
            )),
        }
        .map_err(draw_error)?;
        root.draw(&Text::new(name.to_string(), (x + 20, y), font.clone()))
            .map_err(draw_error)?;
        x += width;
    }
    Ok(())
}

fn draw_outcomes(root: &Area, area: &Area, rows: &[RowResult]) -> Result<(), String> {
    let n = rows.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Outcomes: share of each row's requests (accepted / rejected / errors at the right)",
            ("sans-serif", 18),
        )
        .margin(12)
        .margin_right(150)
        .x_label_area_size(50)
        .y_label_area_size(label_area_width(rows))
        .build_cartesian_2d(0.0..100.0, 0.0..n as f64)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(&|x| format!("{x:.0}%"))
        .draw()
        .map_err(draw_error)?;
    for (index, row) in rows.iter().enumerate() {
        let (low, high) = band(n, index);
        let (y0, y1) = (low + 0.18, high - 0.18);
        let total = (row.accepted + row.rejected + row.errors) as f64;
        if !row.started || total == 0.0 {
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("did not run: {}", row.status),
                    (1.0, (low + high) / 2.0),
                    ("sans-serif", 13)
                        .into_font()
                        .color(&ERRORS)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )))
                .map_err(draw_error)?;
            continue;
        }
        let mut x = 0.0;
        for (count, color) in [
            (row.accepted, ACCEPTED),
            (row.rejected, REJECTED),
            (row.errors, ERRORS),
        ] {
            let width = 100.0 * count as f64 / total;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, y0), (x + width, y1)],
                    color.filled(),
                )))
                .map_err(draw_error)?;
            x += width;
        }
        let (px, py) = chart.backend_coord(&(100.0, (low + high) / 2.0));
        draw_right_label(
            root,
            (px, py),
            format!("{} / {} / {}", row.accepted, row.rejected, row.errors),
        )?;
    }
    draw_row_labels(root, &chart, rows, 0.0)?;
    draw_legend(
        root,
        &chart,
        &[
            ("accepted", Mark::Box(ACCEPTED)),
            ("rejected (503)", Mark::Box(REJECTED)),
            ("errors (timeouts, resets, other)", Mark::Box(ERRORS)),
        ],
    )
}

/// Writes `text` just right of a row's band (counts, p99, measured against model).
fn draw_right_label(root: &Area, (px, py): (i32, i32), text: String) -> Result<(), String> {
    let font = ("sans-serif", 12)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    root.draw(&Text::new(text, (px + 8, py), font))
        .map_err(draw_error)
}

fn draw_latency(root: &Area, area: &Area, rows: &[RowResult]) -> Result<(), String> {
    let n = rows.len().max(1);
    let values: Vec<f64> = rows
        .iter()
        .filter_map(|row| row.latency_all)
        .flat_map(|l| [l.p50_us, l.p90_us, l.p99_us])
        .map(|v| v.max(1) as f64)
        .collect();
    let (low, high) = log_range(&values, (10.0, 1e6));
    let mut chart = log_bar_chart(
        area,
        "Latency of all requests: p50, p90, p99 (log scale)",
        rows,
        (low, high),
        &|us| format_micros(*us),
    )?;
    for (index, row) in rows.iter().enumerate() {
        let Some(latency) = row.latency_all else {
            continue;
        };
        let (band_low, _) = band(n, index);
        for (slot, (value, color)) in [
            (latency.p99_us, P99),
            (latency.p90_us, P90),
            (latency.p50_us, P50),
        ]
        .into_iter()
        .enumerate()
        {
            // Thin bars stacked inside the row's band: p99 on top, p50 at the bottom.
            let y1 = band_low + 0.85 - slot as f64 * 0.24;
            let y0 = y1 - 0.22;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(low, y0), (value.max(1) as f64, y1)],
                    color.filled(),
                )))
                .map_err(draw_error)?;
        }
        let (px, py) = chart.backend_coord(&(high, band_low + 0.5));
        draw_right_label(
            root,
            (px, py),
            format!("p99 {}", format_micros(latency.p99_us as f64)),
        )?;
    }
    draw_row_labels(root, &chart, rows, low)?;
    draw_legend(
        root,
        &chart,
        &[
            ("p50", Mark::Box(P50)),
            ("p90", Mark::Box(P90)),
            ("p99", Mark::Box(P99)),
        ],
    )
}

fn draw_throughput_bars(root: &Area, area: &Area, rows: &[RowResult]) -> Result<(), String> {
    let n = rows.len().max(1);
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|row| [row.server_jobs_per_sec, row.model_jobs_per_sec])
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    let (low, high) = log_range(&values, (0.1, 1000.0));
    let mut chart = log_bar_chart(
        area,
        "Throughput: measured server jobs/s against the model bound (jobs/s, log scale)",
        rows,
        (low, high),
        &|v| format_rate(*v),
    )?;
    for (index, row) in rows.iter().enumerate() {
        let (band_low, band_high) = band(n, index);
        if let Some(measured) = row.server_jobs_per_sec.filter(|v| *v > 0.0) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(low, band_low + 0.25), (measured, band_high - 0.25)],
                    SERIES[0].filled(),
                )))
                .map_err(draw_error)?;
        }
        if let Some(model) = row.model_jobs_per_sec.filter(|v| *v > 0.0) {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(model, band_low + 0.1), (model, band_high - 0.1)],
                    MODEL.stroke_width(3),
                )))
                .map_err(draw_error)?;
        }
        let text = match (row.server_jobs_per_sec, row.model_jobs_per_sec) {
            (Some(measured), Some(model)) => {
                format!("{} of {}", format_rate(measured), format_rate(model))
            }
            (None, Some(model)) => format!("model {}", format_rate(model)),
            _ => "no /stats".into(),
        };
        let (px, py) = chart.backend_coord(&(high, (band_low + band_high) / 2.0));
        draw_right_label(root, (px, py), text)?;
    }
    draw_row_labels(root, &chart, rows, low)?;
    draw_legend(
        root,
        &chart,
        &[
            ("measured server jobs/s", Mark::Box(SERIES[0])),
            ("model bound", Mark::Stroke(MODEL)),
        ],
    )
}

/// Whole decades around the values: a log axis then has its ticks at 1, 10, 100, … and a
/// narrow range cannot crowd it with overlapping labels.
/// Whole decades around `values` for a log axis, or `fallback` when there are none.
fn log_range(values: &[f64], fallback: (f64, f64)) -> (f64, f64) {
    if values.is_empty() {
        return fallback;
    }
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(0.0, f64::max);
    decades(low, high)
}

type LogBars<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<LogCoord<f64>, RangedCoordf64>>;

/// A chart with one horizontal band per row over a log-scale x axis, mesh drawn; the
/// latency and throughput charts share this frame so their rows line up.
fn log_bar_chart<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    rows: &[RowResult],
    (low, high): (f64, f64),
    x_label: &dyn Fn(&f64) -> String,
) -> Result<LogBars<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .margin_right(150)
        .x_label_area_size(50)
        .y_label_area_size(label_area_width(rows))
        .build_cartesian_2d((low..high).log_scale(), 0.0..rows.len().max(1) as f64)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_label_formatter(x_label)
        .draw()
        .map_err(draw_error)?;
    Ok(chart)
}

fn decades(low: f64, high: f64) -> (f64, f64) {
    let low = 10f64.powf(low.max(1e-3).log10().floor());
    let high = 10f64.powf(high.max(low).log10().ceil());
    if high <= low {
        (low, low * 10.0)
    } else {
        (low, high)
    }
}

fn format_rate(jobs_per_sec: f64) -> String {
    if jobs_per_sec >= 100.0 {
        format!("{jobs_per_sec:.0}")
    } else if jobs_per_sec >= 10.0 {
        format!("{jobs_per_sec:.1}")
    } else {
        format!("{jobs_per_sec:.2}")
    }
}

/// One line per base row (stage or variant) of a sweep over a numeric knob.
struct SweepLine {
    name: String,
    measured: Vec<(f64, f64)>,
    model: Vec<(f64, f64)>,
}

fn sweep_series(report: &CompareReport) -> Vec<SweepLine> {
    let mut lines: Vec<SweepLine> = Vec::new();
    for row in &report.rows {
        let Some(point) = &row.plan.sweep else {
            continue;
        };
        let Ok(x) = point.value.parse::<f64>() else {
            // A non-numeric sweep (e.g. map=dashmap,sharded) has no axis to plot on.
            return Vec::new();
        };
        let name = row
            .plan
            .label
            .split(", ")
            .next()
            .unwrap_or(&row.plan.label)
            .to_string();
        let index = match lines.iter().position(|line| line.name == name) {
            Some(index) => index,
            None => {
                lines.push(SweepLine {
                    name,
                    measured: Vec::new(),
                    model: Vec::new(),
                });
                lines.len() - 1
            }
        };
        if let Some(measured) = row.server_jobs_per_sec.filter(|v| *v > 0.0) {
            lines[index].measured.push((x, measured));
        }
        if let Some(model) = row.model_jobs_per_sec.filter(|v| *v > 0.0) {
            lines[index].model.push((x, model));
        }
    }
    lines
}

fn draw_sweep(area: &Area, report: &CompareReport, lines: &[SweepLine]) -> Result<(), String> {
    let knob = report
        .sweep
        .as_ref()
        .map_or("knob".to_string(), |s| s.knob.clone());
    let points = lines.iter().flat_map(|l| l.measured.iter().chain(&l.model));
    let (mut x_low, mut x_high, mut y_low, mut y_high) =
        (f64::INFINITY, 0.0_f64, f64::INFINITY, 0.0_f64);
    for &(x, y) in points {
        x_low = x_low.min(x);
        x_high = x_high.max(x);
        y_low = y_low.min(y);
        y_high = y_high.max(y);
    }
    if !x_low.is_finite() || x_low <= 0.0 || !y_low.is_finite() {
        return Err(format!(
            "the {knob} sweep produced no throughput to chart (no /stats, or every row failed)"
        ));
    }
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Throughput against {knob}: measured (solid) and model (dashed), log-log"),
            ("sans-serif", 18),
        )
        .margin(12)
        .margin_right(40)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_low.log2() - 0.3)..(x_high.log2() + 0.3),
            (y_low / 2.0..y_high * 2.0).log_scale(),
        )
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc(knob.as_str())
        .y_desc("server jobs/s")
        .x_labels(((x_high.log2() - x_low.log2()).ceil() as usize + 2).max(2))
        .x_label_formatter(&|v| format!("{}", 2f64.powf(*v).round()))
        .y_label_formatter(&|v| format_rate(*v))
        .draw()
        .map_err(draw_error)?;
    for (index, line) in lines.iter().enumerate() {
        let color = SERIES[index % SERIES.len()];
        chart
            .draw_series(LineSeries::new(
                line.measured.iter().map(|&(x, y)| (x.log2(), y)),
                color.stroke_width(2),
            ))
            .map_err(draw_error)?
            .label(format!("{} measured", line.name))
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 16, ly)], color.stroke_width(2))
            });
        chart
            .draw_series(
                line.measured
                    .iter()
                    .map(|&(x, y)| Circle::new((x.log2(), y), 4, color.filled())),
            )
            .map_err(draw_error)?;
        chart
            .draw_series(DashedLineSeries::new(
                line.model.iter().map(|&(x, y)| (x.log2(), y)),
                6,
                4,
                color.mix(0.7).stroke_width(2),
            ))
            .map_err(draw_error)?
            .label(format!("{} model", line.name))
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 6, ly)], color.mix(0.7).stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(draw_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::render::tests::canned_report;
    use crate::compare::{plan, spec, CompareOptions, RowResult};
    use std::path::PathBuf;

    /// Every tag closed in order, nothing outside the root element: enough to catch a
    /// truncated or interleaved document without an XML parser in the dependency tree.
    fn assert_well_formed(svg: &str) {
        let body = svg.trim();
        assert!(
            body.starts_with("<svg"),
            "starts with {:?}",
            &body[..20.min(body.len())]
        );
        assert!(body.ends_with("</svg>"));
        let mut open: Vec<String> = Vec::new();
        let mut rest = body;
        while let Some(start) = rest.find('<') {
            let text = &rest[..start];
            assert!(!text.contains('>'), "stray '>' in text {text:?}");
            let end = rest[start..].find('>').expect("every tag ends") + start;
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
                continue;
            }
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            if tag.starts_with('/') {
                assert_eq!(
                    open.pop().as_deref(),
                    Some(name.as_str()),
                    "mismatched </{name}>"
                );
            } else {
                open.push(name);
            }
        }
        assert!(open.is_empty(), "unclosed: {open:?}");
        assert!(rest.trim().is_empty());
    }

    #[test]
    fn canned_rows_chart_is_well_formed() {
        let report = canned_report();
        let svg = render_svg(&report).expect("chart renders");
        assert_well_formed(&svg);
        for text in [
            "Outcomes",
            "Latency",
            "Throughput",
            "7 contention",
            "117 / 4883 / 0",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
    }

    #[test]
    fn sweep_chart_has_measured_and_model_lines() {
        let plans = plan(&CompareOptions {
            sweep: Some(spec::parse_sweep("workers=1,4,16").expect("valid sweep")),
            ..CompareOptions::default()
        });
        let rows: Vec<RowResult> = plans
            .into_iter()
            .map(|plan| {
                let workers: f64 = plan
                    .sweep
                    .as_ref()
                    .map_or(1.0, |p| p.value.parse().expect("numeric sweep value"));
                let model = if plan.stage == 7 {
                    (workers * 1000.0 / 110.0).min(100.0)
                } else {
                    workers * 1000.0 / 11.0
                };
                let mut row = RowResult::failed(plan, PathBuf::from("/x"), "ok".into(), 1.0);
                row.started = true;
                row.ok = true;
                row.accepted = 100;
                row.rejected = 1900;
                row.model_jobs_per_sec = Some(model);
                row.server_jobs_per_sec = Some(model * 0.9);
                row
            })
            .collect();
        let mut report = canned_report();
        report.sweep = Some(spec::parse_sweep("workers=1,4,16").expect("valid sweep"));
        report.rows = rows;
        let svg = render_svg(&report).expect("chart renders");
        assert_well_formed(&svg);
        assert!(svg.contains("Throughput against workers"));
        assert!(svg.contains("7 contention measured"));
        assert!(svg.contains("8 sharding model"));
    }

    #[test]
    fn writes_a_file() {
        let path = std::env::temp_dir().join(format!("compare-chart-{}.svg", std::process::id()));
        write_svg(&path, &canned_report()).expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        let _ = std::fs::remove_file(&path);
        assert_well_formed(&text);
    }
}
