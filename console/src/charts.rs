//! Small server-rendered SVG charts: stacked bars and lines, with axes, labels and a legend.
//! Each bar and point carries a `<title>`, so hovering shows the exact value.

use std::fmt::Write;

use crate::layout::escape;

/// Colours for series, chosen to stay apart for common colour blindness.
pub(crate) const PALETTE: [&str; 8] = [
    "#3a5bd9", "#e8833a", "#2a9d8f", "#c8507a", "#8a6fd1", "#d4b106", "#5b8c3a", "#7a7a8c",
];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One named series of values, one per x label.
pub(crate) struct Series {
    pub name: String,
    pub color: &'static str,
    pub values: Vec<f64>,
}

impl Series {
    pub(crate) fn new(name: impl Into<String>, color: &'static str, values: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            color,
            values,
        }
    }
}

/// What a chart's y axis measures: how its values read, and whether ticks are whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Axis {
    /// US dollars.
    Usd,
    /// Things counted (requests, tokens): whole-number ticks.
    Count,
    /// Milliseconds.
    Millis,
}

impl Axis {
    /// A value as the axis and the tooltips show it.
    pub(crate) fn format(self, v: f64) -> String {
        match self {
            Self::Usd if v == 0.0 => "$0".into(),
            Self::Usd if v >= 1.0 => format!("${v:.2}"),
            Self::Usd => format!("${v:.6}").trim_end_matches('0').to_string(),
            Self::Count if v >= 1_000_000.0 => format!("{:.1}M", v / 1_000_000.0),
            Self::Count if v >= 1000.0 => format!("{:.1}k", v / 1000.0),
            Self::Count | Self::Millis => format!("{v:.0}"),
        }
    }

    fn whole_numbers(self) -> bool {
        self == Self::Count
    }
}

/// A chart's data: x labels and series.
pub(crate) struct Chart<'a> {
    pub title: &'a str,
    pub labels: Vec<String>,
    pub series: Vec<Series>,
    pub axis: Axis,
}

/// Bars stacked per x label.
pub(crate) fn stacked_bars(chart: &Chart) -> String {
    let n = chart.labels.len().max(1);
    let totals: Vec<f64> = (0..n)
        .map(|i| chart.series.iter().map(|s| value(s, i)).sum())
        .collect();
    let (max, ticks) = scale(
        totals.iter().cloned().fold(0.0, f64::max),
        chart.axis.whole_numbers(),
    );
    let mut svg = open(chart, max, &ticks);
    let slot = plot_width() / n as f64;
    let bar = (slot * 0.7).max(1.0);
    for i in 0..n {
        let mut base = 0.0;
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        for series in &chart.series {
            let v = value(series, i);
            if v <= 0.0 {
                continue;
            }
            let y0 = y_of(base, max);
            let y1 = y_of(base + v, max);
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{} · {}: {}</title></rect>",
                (y0 - y1).max(0.5),
                series.color,
                escape(chart.labels.get(i).map_or("", String::as_str)),
                escape(&series.name),
                chart.axis.format(v)
            );
            base += v;
        }
    }
    close(svg, chart)
}

/// Lines, one per series.
pub(crate) fn lines(chart: &Chart) -> String {
    let n = chart.labels.len().max(1);
    let peak = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().cloned())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (max, ticks) = scale(peak, chart.axis.whole_numbers());
    let mut svg = open(chart, max, &ticks);
    let slot = plot_width() / n as f64;
    for series in &chart.series {
        let points: Vec<Option<(f64, f64)>> = (0..n)
            .map(|i| {
                let v = value(series, i);
                v.is_finite()
                    .then(|| (LEFT + slot * (i as f64 + 0.5), y_of(v, max)))
            })
            .collect();
        // A gap (no data) splits the line.
        for run in points.split(Option::is_none) {
            let path: Vec<String> = run
                .iter()
                .flatten()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            if path.len() > 1 {
                let _ = write!(
                    svg,
                    "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
                    series.color,
                    path.join(" ")
                );
            }
        }
        for (i, point) in points.iter().enumerate() {
            let Some((x, y)) = point else { continue };
            let _ = write!(
                svg,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{}\"><title>{} · {}: {}</title></circle>",
                series.color,
                escape(chart.labels.get(i).map_or("", String::as_str)),
                escape(&series.name),
                chart.axis.format(value(series, i))
            );
        }
    }
    close(svg, chart)
}

fn value(series: &Series, i: usize) -> f64 {
    series.values.get(i).copied().unwrap_or(0.0)
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn y_of(v: f64, max: f64) -> f64 {
    let height = HEIGHT - TOP - BOTTOM;
    TOP + height - (v / max) * height
}

/// A round top for the y axis and its ticks (whole-number steps for counts).
fn scale(peak: f64, whole_numbers: bool) -> (f64, Vec<f64>) {
    if peak <= 0.0 || !peak.is_finite() {
        return (1.0, vec![0.0, 1.0]);
    }
    let rough = peak / 4.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let multiples: &[f64] = if whole_numbers {
        &[1.0, 2.0, 5.0, 10.0]
    } else {
        &[1.0, 2.0, 2.5, 5.0, 10.0]
    };
    let step = multiples
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude);
    let step = if whole_numbers { step.max(1.0) } else { step };
    let steps = (peak / step).ceil().max(1.0);
    // At most ten steps: the step is at least a quarter of the peak.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ticks = (0..=steps as usize).map(|i| i as f64 * step).collect();
    (steps * step, ticks)
}

fn open(chart: &Chart, max: f64, ticks: &[f64]) -> String {
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        escape(chart.title)
    );
    for tick in ticks {
        let y = y_of(*tick, max);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&chart.axis.format(*tick))
        );
    }
    let n = chart.labels.len().max(1);
    let slot = plot_width() / n as f64;
    let every = n.div_ceil(8);
    for (i, label) in chart.labels.iter().enumerate() {
        if !i.is_multiple_of(every) {
            continue;
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"middle\">{}</text>",
            LEFT + slot * (i as f64 + 0.5),
            HEIGHT - 8.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{:.1}\" class=\"axis-line\"/>",
        HEIGHT - BOTTOM
    );
    svg
}

fn close(mut svg: String, chart: &Chart) -> String {
    svg.push_str("</svg>");
    if chart.labels.is_empty() {
        svg.push_str("<p class=\"muted\">No data in this range yet.</p>");
    }
    let mut legend = String::from("<ul class=\"legend\">");
    for series in &chart.series {
        let _ = write!(
            legend,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            series.color,
            escape(&series.name)
        );
    }
    legend.push_str("</ul>");
    format!(
        "<figure class=\"chart-box\"><figcaption>{}</figcaption>{svg}{legend}</figure>",
        escape(chart.title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(values: Vec<f64>) -> Chart<'static> {
        Chart {
            title: "Spend",
            labels: (0..values.len()).map(|i| format!("{i}:00")).collect(),
            series: vec![Series {
                name: "gpt <4o>".into(),
                color: PALETTE[0],
                values,
            }],
            axis: Axis::Usd,
        }
    }

    #[test]
    fn bars_have_labels_values_and_legend() {
        let svg = stacked_bars(&chart(vec![1.0, 3.0]));
        assert!(svg.contains("<svg"));
        assert!(svg.contains("1:00 · gpt &lt;4o&gt;: $3.00"));
        assert!(svg.contains("class=\"legend\""));
        assert_eq!(svg.matches("<rect").count(), 2);
    }

    #[test]
    fn scale_is_round() {
        assert_eq!(scale(7.3, false).0, 8.0);
        assert_eq!(scale(0.0, false).0, 1.0);
        assert_eq!(scale(950.0, false).0, 1000.0);
    }

    #[test]
    fn count_axes_tick_in_whole_numbers() {
        assert_eq!(scale(1.0, true), (1.0, vec![0.0, 1.0]));
        let (max, ticks) = scale(3.0, true);
        assert_eq!(max, 3.0);
        assert!(ticks.iter().all(|t| t.fract() == 0.0), "{ticks:?}");
        assert_eq!(scale(25.0, true).1, vec![0.0, 10.0, 20.0, 30.0]);
    }

    #[test]
    fn lines_mark_every_point_and_skip_gaps() {
        let svg = lines(&chart(vec![1.0, 2.0, 4.0]));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("<polyline").count(), 1);
        let svg = lines(&chart(vec![1.0, 2.0, f64::NAN, 3.0, 4.0]));
        assert_eq!(svg.matches("<circle").count(), 4);
        assert_eq!(svg.matches("<polyline").count(), 2);
    }
}
