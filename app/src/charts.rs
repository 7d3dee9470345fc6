//! Charts as SVG, drawn with plotters on the server.
//!
//! Axes, labels and grid lines are drawn in placeholder colours ([`INK`], [`GRID`],
//! [`HIDDEN`]) that the style sheet repaints with the theme's colours (CSS rules beat SVG
//! presentation attributes), so one drawing serves the light and the dark theme. Every chart
//! is an `<svg role="img">` with a `<title>`; the numbers behind it are in the table or CSV
//! beside it. A value the privacy rules withhold is a gap in a line or a hatched cell, never
//! a zero.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::layout::escape;

/// Text and axes (repainted by the theme).
pub const INK: RGBColor = RGBColor(1, 1, 1);
/// Grid lines (repainted by the theme).
pub const GRID: RGBColor = RGBColor(2, 2, 2);
/// Withheld cells (repainted by the theme).
pub const HIDDEN: RGBColor = RGBColor(3, 3, 3);
/// Series colours, readable on light and dark backgrounds.
pub const PALETTE: [RGBColor; 4] = [
    RGBColor(37, 99, 235),
    RGBColor(234, 88, 12),
    RGBColor(22, 163, 74),
    RGBColor(147, 51, 234),
];

const WIDTH: u32 = 760;
const FONT: (&str, u32) = ("sans-serif", 16);

/// One line of a line chart.
pub struct Series {
    /// Its name (for the legend under the chart).
    pub name: String,
    /// One value per label; `None` is a gap.
    pub values: Vec<Option<f64>>,
    /// Index into [`PALETTE`].
    pub colour: usize,
    /// Drawn thinner and lighter (a comparison period).
    pub faint: bool,
}

type Draw<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn svg(title: &str, height: u32, draw: impl FnOnce(&Draw) -> Result<(), String>) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        if let Err(e) = draw(&root).and_then(|_| root.present().map_err(|e| e.to_string())) {
            tracing::warn!(error = %e, title, "chart not drawn");
        }
    }
    accessible(&out, title, height)
}

/// Adds the role, the title and a view box so the chart scales with the page.
fn accessible(svg: &str, title: &str, height: u32) -> String {
    let title = escape(title);
    // Plotters' own opening tag (fixed width and height) is replaced as a whole.
    let Some(body) = svg.find('>').map(|end| &svg[end + 1..]) else {
        return String::new();
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{title}\" class=\"chart\"><title>{title}</title>{body}"
    )
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The top of a value axis: a little above the largest value (1 when all are zero).
fn top(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.fold(0.0_f64, f64::max);
    if max > 0.0 { max * 1.08 } else { 1.0 }
}

/// Every `step`-th label, so a long series keeps readable dates.
fn label_at(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    labels.get(i as usize).cloned().unwrap_or_default()
}

/// A line chart over `labels` (dates), gaps where a value is withheld.
pub fn line(
    title: &str,
    labels: &[String],
    series: &[Series],
    y: &dyn Fn(f64) -> String,
) -> String {
    let high = top(series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied()));
    svg(title, 300, |root| {
        let mut chart = time_axes(root, labels, high, y)?;
        for s in series {
            let colour = PALETTE[s.colour % PALETTE.len()];
            let style = if s.faint {
                colour.mix(0.55).stroke_width(2)
            } else {
                colour.stroke_width(3)
            };
            for run in runs(&s.values) {
                chart
                    .draw_series(LineSeries::new(run.clone(), style))
                    .map_err(err)?;
                if run.len() == 1 {
                    chart
                        .draw_series(run.iter().map(|p| Circle::new(*p, 3, style.filled())))
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    })
}

type TimeChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Axes for a series over `labels` (dates along x, values up to `high` along y).
fn time_axes<'a, 'b>(
    root: &'a Draw<'b>,
    labels: &[String],
    high: f64,
    y: &dyn Fn(f64) -> String,
) -> Result<TimeChart<'a, 'b>, String> {
    let n = labels.len().max(2);
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .margin_right(36)
        .x_label_area_size(30)
        .y_label_area_size(84)
        .build_cartesian_2d(0.0..(n - 1) as f64, 0.0..high)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID.stroke_width(1))
        .axis_style(INK)
        .label_style(FONT.into_font().color(&INK))
        .x_labels(n.min(8))
        .x_label_formatter(&|x| label_at(labels, *x))
        .y_labels(5)
        .y_label_formatter(&|v| y(*v))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// Runs of consecutive present values as points.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => current.push((i as f64, *v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A forecast: the median line inside its interval band.
pub fn band(
    title: &str,
    labels: &[String],
    low: &[f64],
    mid: &[f64],
    high: &[f64],
    y: &dyn Fn(f64) -> String,
) -> String {
    let ceiling = top(high.iter().copied().chain(mid.iter().copied()));
    svg(title, 280, |root| {
        let mut chart = time_axes(root, labels, ceiling, y)?;
        let mut outline: Vec<(f64, f64)> = high
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64, *v))
            .collect();
        outline.extend(low.iter().enumerate().rev().map(|(i, v)| (i as f64, *v)));
        chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
                PALETTE[0].mix(0.18).filled(),
            )))
            .map_err(err)?;
        let points: Vec<(f64, f64)> = mid
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64, *v))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), PALETTE[0].stroke_width(3)))
            .map_err(err)?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new(*p, 3, PALETTE[0].filled())),
            )
            .map_err(err)?;
        Ok(())
    })
}

/// Horizontal bars, one per label, on a value axis up to `scale` (or the largest value); a
/// withheld value is a hatched stub.
pub fn bars(
    title: &str,
    labels: &[String],
    values: &[Option<f64>],
    scale: Option<f64>,
    x: &dyn Fn(f64) -> String,
) -> String {
    let n = labels.len().max(1);
    // A fixed scale (percentiles: 0–100) whatever is shown; else up to the largest value.
    let high = scale.unwrap_or_else(|| top(values.iter().flatten().copied()));
    let height = 40 + 30 * n as u32;
    svg(title, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(26)
            .y_label_area_size(190)
            .build_cartesian_2d(0.0..high, 0.0..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID.stroke_width(1))
            .axis_style(INK)
            .label_style(FONT.into_font().color(&INK))
            .x_labels(5)
            .x_label_formatter(&|v| x(*v))
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|v| {
                // Labels sit at the middle of each bar (k + 0.5), the first bar on top.
                let k = v - 0.5;
                if (k - k.round()).abs() > 1e-6 || k < 0.0 {
                    return String::new();
                }
                labels
                    .get(n - 1 - k.round() as usize)
                    .cloned()
                    .unwrap_or_default()
            })
            .draw()
            .map_err(err)?;
        for (i, value) in values.iter().enumerate() {
            let row = (n - 1 - i) as f64;
            let (end, style) = match value {
                Some(v) => (*v, PALETTE[0].filled()),
                None => (high * 0.02, HIDDEN.filled()),
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, row + 0.18), (end, row + 0.82)],
                    style,
                )))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// A heatmap: rows × columns, shade by value; withheld cells in the "hidden" colour.
pub fn heatmap(
    title: &str,
    rows: &[String],
    columns: &[String],
    values: &[Vec<Option<f64>>],
) -> String {
    let (nr, nc) = (rows.len().max(1), columns.len().max(1));
    let high = top(values.iter().flatten().flatten().copied());
    let height = 50 + 26 * nr as u32;
    svg(title, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(26)
            .y_label_area_size(110)
            .build_cartesian_2d(0.0..nc as f64, 0.0..nr as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .axis_style(INK)
            .label_style(FONT.into_font().color(&INK))
            .x_labels(nc * 2 + 1)
            .x_label_formatter(&|v| centre_label(columns, *v, false))
            .y_labels(nr * 2 + 1)
            .y_label_formatter(&|v| centre_label(rows, *v, true))
            .draw()
            .map_err(err)?;
        for (r, row) in values.iter().enumerate() {
            let y = (nr - 1 - r) as f64;
            for (c, value) in row.iter().enumerate() {
                let style = match value {
                    Some(v) => PALETTE[0]
                        .mix(0.08 + 0.92 * (v / high).clamp(0.0, 1.0))
                        .filled(),
                    None => HIDDEN.filled(),
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(c as f64 + 0.04, y + 0.06), (c as f64 + 0.96, y + 0.94)],
                        style,
                    )))
                    .map_err(err)?;
            }
        }
        Ok(())
    })
}

fn centre_label(labels: &[String], v: f64, reversed: bool) -> String {
    let k = v - 0.5;
    if (k - k.round()).abs() > 1e-6 || k < 0.0 {
        return String::new();
    }
    let k = k.round() as usize;
    let index = if reversed {
        labels.len().wrapping_sub(1 + k)
    } else {
        k
    };
    labels.get(index).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("{d:02}.10")).collect()
    }

    #[test]
    fn a_line_chart_is_an_accessible_scalable_svg() {
        let svg = line(
            "Revenue <30 days>",
            &labels(5),
            &[Series {
                name: "now".into(),
                values: vec![Some(1.0), Some(3.0), None, Some(2.0), Some(5.0)],
                colour: 0,
                faint: false,
            }],
            &|v| format!("{v:.0} ₽"),
        );
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title>Revenue &lt;30 days&gt;</title>"));
        assert!(svg.contains("viewBox=\"0 0 760 300\""));
        assert!(!svg.contains("width=\"760\""), "fixed size removed");
        assert!(svg.contains("01.10"), "dates on the x axis");
        assert!(svg.contains(" ₽"), "units on the y axis");
        // The gap splits the line in two: a line of 2 points and a line of 2 points.
        assert_eq!(svg.matches("stroke=\"#2563EB\"").count(), 2, "{svg}");
        // Axis text is in the placeholder ink the theme repaints.
        assert!(svg.to_uppercase().contains("#010101"));
    }

    #[test]
    fn withheld_cells_are_drawn_hidden_not_zero() {
        let svg = heatmap(
            "Hours",
            &["Mon".into(), "Tue".into()],
            &["0".into(), "1".into()],
            &[vec![Some(1.0), None], vec![Some(4.0), Some(2.0)]],
        );
        assert_eq!(svg.matches("fill=\"#030303\"").count(), 1, "{svg}");
        let svg = bars(
            "Shares",
            &["a".into(), "b".into()],
            &[Some(0.5), None],
            None,
            &|v| format!("{v}"),
        );
        assert_eq!(svg.matches("fill=\"#030303\"").count(), 1, "{svg}");
        assert!(svg.contains("\na\n") && svg.contains("\nb\n"), "{svg}");
    }

    #[test]
    fn runs_split_at_gaps() {
        assert_eq!(
            runs(&[None, Some(1.0), Some(2.0), None, Some(3.0)]),
            vec![vec![(1.0, 1.0), (2.0, 2.0)], vec![(4.0, 3.0)]]
        );
    }
}
