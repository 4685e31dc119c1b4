//! Charts with plotters: the same drawing code writes SVG (inline in the HTML; the browser
//! lays out right-to-left text itself) and PNG (for slides; the embedded DejaVu Sans, and
//! right-to-left text put in visual order by [`crate::visual`] first).
//!
//! Every chart carries a title and a text alternative that says in words what it shows; the
//! SVG gets them as `<title>` and `<desc>` with `role="img"`.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::{Lang, ReportError};

/// DejaVu Sans (Bitstream Vera licence, `fonts/DejaVuSans-LICENSE.txt`): Hebrew, Latin and
/// digits in one font, embedded so PNG charts look the same on every machine.
pub(crate) const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

static FONT_ONCE: Once = Once::new();

fn register_font() {
    FONT_ONCE.call_once(|| {
        // The bytes are ours and fixed: a failure here would show in every chart test.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Colours that keep their meaning for colour-blind readers next to the words and symbols
/// that always go with them.
const ACTUAL: RGBColor = RGBColor(0x1f, 0x4e, 0x9a);
const TARGET: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
const BASELINE: RGBColor = RGBColor(0x75, 0x75, 0x75);
const FORECAST: RGBColor = RGBColor(0xb2, 0x6b, 0x00);
const MUTED: RGBColor = RGBColor(0x9e, 0x9e, 0x9e);

/// A "turn the curve" chart: actual values, the baseline, the path to the target, and a
/// forecast from the trend.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrendChart {
    /// Chart title.
    pub title: String,
    /// The text alternative: what the chart shows, in a sentence or two.
    pub alt: String,
    /// Unit shown after values (`%`).
    pub unit: String,
    /// The periods on the x axis, in order (forecast periods included).
    pub periods: Vec<String>,
    /// The value per period (`None`: no value or suppressed).
    pub actual: Vec<Option<f64>>,
    /// Whether the value of a period is suppressed.
    pub suppressed: Vec<bool>,
    /// The baseline, drawn across.
    pub baseline: Option<f64>,
    /// The target path: (period index, value).
    pub target_path: Vec<(usize, f64)>,
    /// The forecast: (period index, value), starting at the last actual value.
    pub forecast: Vec<(usize, f64)>,
    /// Legend words: actual, baseline, target path, forecast, suppressed.
    pub words: [String; 5],
    /// A sparkline: no axes, no legend, small.
    pub spark: bool,
    /// Where the indicator's definition changed: the index of the first period under the
    /// new definition and the mark written at the rule (`definition 2`). The actual line is
    /// interrupted there.
    pub breaks: Vec<(usize, String)>,
}

/// One bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Its label.
    pub label: String,
    /// Its value (`None`: suppressed or no value).
    pub value: Option<f64>,
}

/// A horizontal bar chart (breakdowns; long labels fit on the side).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BarChart {
    /// Chart title.
    pub title: String,
    /// The text alternative.
    pub alt: String,
    /// Unit shown after values.
    pub unit: String,
    /// The bars, top to bottom.
    pub bars: Vec<Bar>,
    /// The word written where a value is suppressed.
    pub suppressed_word: String,
}

/// A chart of either kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Chart {
    /// Values over time.
    Trend(Box<TrendChart>),
    /// Values side by side.
    Bars(BarChart),
}

impl Chart {
    fn title(&self) -> &str {
        match self {
            Self::Trend(c) => &c.title,
            Self::Bars(c) => &c.title,
        }
    }
    fn alt(&self) -> &str {
        match self {
            Self::Trend(c) => &c.alt,
            Self::Bars(c) => &c.alt,
        }
    }
    /// The size it is drawn at.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Self::Trend(c) if c.spark => (140, 36),
            Self::Trend(_) => (720, 360),
            Self::Bars(c) => (720, 90 + 34 * c.bars.len().max(1) as u32),
        }
    }
}

/// A value as people read it: thousands separated, at most one decimal (two below 10).
pub(crate) fn format_value(v: f64, unit: &str) -> String {
    let text = if v.fract().abs() < 1e-9 && v.abs() < 1e15 {
        group(&format!("{}", v.round() as i64))
    } else if v.abs() < 10.0 {
        format!("{v:.2}")
    } else {
        let s = format!("{v:.1}");
        match s.split_once('.') {
            Some((i, f)) => format!("{}.{f}", group(i)),
            None => group(&s),
        }
    };
    match unit {
        "" => text,
        "%" => format!("{text}%"),
        u => format!("{text} {u}"),
    }
}

fn group(int: &str) -> String {
    let (sign, digits) = match int.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", int),
    };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

type Text<'a> = &'a dyn Fn(&str) -> String;

/// Font sizes, margins and strokes are in pixels: PNGs are drawn at `k` times the SVG size.
fn px(k: u32, v: u32) -> u32 {
    k * v
}

fn err(chart: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Chart {
        chart: chart.to_owned(),
        message: e.to_string(),
    }
}

fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !hi.is_finite() || hi <= lo {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.12;
    (if lo < 0.0 { lo - pad } else { 0.0 }, hi + pad)
}

fn draw_trend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &TrendChart,
    text: Text<'_>,
    k: u32,
) -> Result<(), ReportError> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| err(&c.title, x);
    root.fill(&WHITE).map_err(e)?;
    let n = c.periods.len().max(1);
    let (lo, hi) = y_range(
        c.actual
            .iter()
            .flatten()
            .copied()
            .chain(c.baseline)
            .chain(c.target_path.iter().map(|p| p.1))
            .chain(c.forecast.iter().map(|p| p.1)),
    );
    let x_range = -0.5..(n as f64 - 0.5);
    let mut builder = ChartBuilder::on(root);
    if c.spark {
        builder.margin(px(k, 3));
    } else {
        builder
            .caption(text(&c.title), (FAMILY, px(k, 20)))
            .margin(px(k, 12))
            .x_label_area_size(px(k, 34))
            .y_label_area_size(px(k, 64));
    }
    let mut chart = builder.build_cartesian_2d(x_range, lo..hi).map_err(e)?;
    let periods = &c.periods;
    let unit = c.unit.clone();
    if !c.spark {
        let step = n.div_ceil(12).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.min(13) + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 || !(i as usize).is_multiple_of(step) {
                    return String::new();
                }
                periods.get(i as usize).cloned().unwrap_or_default()
            })
            .y_label_formatter(&|y| format_value(*y, &unit))
            .label_style((FAMILY, px(k, 13)))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(e)?;
    }
    let width = px(k, if c.spark { 2 } else { 3 });
    if let Some(b) = c.baseline {
        let s = chart
            .draw_series(DashedLineSeries::new(
                [(-0.5, b), (n as f64 - 0.5, b)],
                px(k, 4),
                px(k, 4),
                BASELINE.stroke_width(px(k, 1)),
            ))
            .map_err(e)?;
        if !c.spark {
            s.label(text(&c.words[1])).legend(|(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + px(k, 18) as i32, y)],
                    BASELINE.stroke_width(px(k, 1)),
                )
            });
        }
    }
    if c.target_path.len() >= 2 || (c.target_path.len() == 1 && !c.spark) {
        let pts: Vec<(f64, f64)> = c.target_path.iter().map(|&(i, v)| (i as f64, v)).collect();
        let s = chart
            .draw_series(LineSeries::new(pts.clone(), TARGET.stroke_width(px(k, 2))))
            .map_err(e)?;
        if !c.spark {
            s.label(text(&c.words[2])).legend(|(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + px(k, 18) as i32, y)],
                    TARGET.stroke_width(px(k, 2)),
                )
            });
            chart
                .draw_series(
                    pts.iter()
                        .map(|&p| TriangleMarker::new(p, px(k, 5), TARGET.filled())),
                )
                .map_err(e)?;
        }
    }
    if c.forecast.len() >= 2 {
        let pts: Vec<(f64, f64)> = c.forecast.iter().map(|&(i, v)| (i as f64, v)).collect();
        let s = chart
            .draw_series(DashedLineSeries::new(
                pts,
                px(k, 6),
                px(k, 4),
                FORECAST.stroke_width(px(k, 2)),
            ))
            .map_err(e)?;
        if !c.spark {
            s.label(text(&c.words[3])).legend(|(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + px(k, 18) as i32, y)],
                    FORECAST.stroke_width(px(k, 2)),
                )
            });
        }
    }
    // The actual line breaks where a value is missing or suppressed.
    let mut segment: Vec<(f64, f64)> = Vec::new();
    let mut segments = Vec::new();
    for (i, v) in c.actual.iter().enumerate() {
        // A changed definition interrupts the line: the values either side are not one series.
        if c.breaks.iter().any(|(b, _)| *b == i) {
            segments.push(std::mem::take(&mut segment));
        }
        match v {
            Some(v) => segment.push((i as f64, *v)),
            None => segments.push(std::mem::take(&mut segment)),
        }
    }
    segments.push(segment);
    // A marked vertical rule between the last period of one definition and the first of the
    // next.
    for (b, mark) in &c.breaks {
        let x = *b as f64 - 0.5;
        chart
            .draw_series(DashedLineSeries::new(
                [(x, lo), (x, hi)],
                px(k, 5),
                px(k, 3),
                BASELINE.stroke_width(px(k, if c.spark { 1 } else { 2 })),
            ))
            .map_err(e)?;
        if !c.spark {
            chart
                .draw_series(std::iter::once(plotters::element::Text::new(
                    text(mark),
                    (x, hi - (hi - lo) * 0.02),
                    (FAMILY, px(k, 12))
                        .into_font()
                        .color(&BASELINE)
                        .pos(Pos::new(HPos::Left, VPos::Top)),
                )))
                .map_err(e)?;
        }
    }
    let mut labelled = false;
    for seg in segments.into_iter().filter(|s| !s.is_empty()) {
        let s = chart
            .draw_series(LineSeries::new(seg.clone(), ACTUAL.stroke_width(width)))
            .map_err(e)?;
        if !c.spark && !labelled {
            labelled = true;
            s.label(text(&c.words[0])).legend(|(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + px(k, 18) as i32, y)],
                    ACTUAL.stroke_width(px(k, 3)),
                )
            });
        }
        let r = px(k, if c.spark { 2 } else { 4 });
        chart
            .draw_series(seg.iter().map(|&p| Circle::new(p, r, ACTUAL.filled())))
            .map_err(e)?;
    }
    if !c.spark {
        // Suppressed periods are marked as such, never drawn as zero.
        let mark_y = lo + (hi - lo) * 0.04;
        chart
            .draw_series(
                c.suppressed
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| **s)
                    .map(|(i, _)| {
                        plotters::element::Text::new(
                            text(&format!("({})", c.words[4])),
                            (i as f64, mark_y),
                            (FAMILY, px(k, 11))
                                .into_font()
                                .color(&MUTED)
                                .pos(Pos::new(HPos::Center, VPos::Bottom)),
                        )
                    }),
            )
            .map_err(e)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FAMILY, px(k, 13)))
            .legend_area_size(px(k, 26))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0xcc, 0xcc, 0xcc))
            .draw()
            .map_err(e)?;
    }
    root.present().map_err(e)
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &BarChart,
    text: Text<'_>,
    k: u32,
) -> Result<(), ReportError> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| err(&c.title, x);
    root.fill(&WHITE).map_err(e)?;
    let n = c.bars.len().max(1);
    let (_, hi) = y_range(c.bars.iter().filter_map(|b| b.value));
    let longest = c
        .bars
        .iter()
        .map(|b| short(&b.label).chars().count())
        .max()
        .unwrap_or(4);
    let label_area = px(k, (longest as u32 * 8 + 16).clamp(60, 260));
    let mut chart = ChartBuilder::on(root)
        .caption(text(&c.title), (FAMILY, px(k, 20)))
        .margin(px(k, 12))
        .x_label_area_size(px(k, 30))
        .y_label_area_size(label_area)
        .build_cartesian_2d(0.0..hi, (0..n - 1).into_segmented())
        .map_err(e)?;
    let labels: Vec<String> = c.bars.iter().map(|b| text(&short(&b.label))).collect();
    let unit = c.unit.clone();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|x| format_value(*x, &unit))
        .label_style((FAMILY, px(k, 13)))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(c.bars.iter().enumerate().filter_map(|(i, b)| {
            b.value.map(|v| {
                let mut r = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (v, SegmentValue::Exact(i + 1)),
                    ],
                    ACTUAL.filled(),
                );
                r.set_margin(px(k, 5), px(k, 5), 0, 0);
                r
            })
        }))
        .map_err(e)?;
    chart
        .draw_series(c.bars.iter().enumerate().map(|(i, b)| {
            let (words, color) = match b.value {
                Some(v) => (format_value(v, &c.unit), BLACK),
                None => (format!("({})", c.suppressed_word), MUTED),
            };
            plotters::element::Text::new(
                text(&words),
                (b.value.unwrap_or(0.0), SegmentValue::CenterOf(i)),
                (FAMILY, px(k, 12))
                    .into_font()
                    .color(&color)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))
        .map_err(e)?;
    root.present().map_err(e)
}

/// Labels longer than this are cut with an ellipsis in charts (the full label is in the
/// table under the chart).
fn short(label: &str) -> String {
    const MAX: usize = 30;
    if label.chars().count() <= MAX {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(MAX - 1).collect();
        s.push('…');
        s
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    text: Text<'_>,
    k: u32,
) -> Result<(), ReportError> {
    match chart {
        Chart::Trend(c) => draw_trend(root, c.as_ref(), text, k),
        Chart::Bars(c) => draw_bars(root, c, text, k),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart as an SVG document with `role="img"`, a `<title>` and a `<desc>`.
pub fn svg(chart: &Chart, lang: Lang) -> Result<String, ReportError> {
    register_font();
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, chart.size()).into_drawing_area();
        // The browser orders right-to-left text itself; isolating it keeps the SVG's own
        // left-to-right anchoring intact.
        let text = |s: &str| {
            if lang.rtl()
                && s.chars().any(
                    |c| matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF),
                )
            {
                format!("\u{2067}{s}\u{2069}")
            } else {
                s.to_owned()
            }
        };
        draw(&root, chart, &text, 1)?;
    }
    let Some(open) = buf.find("<svg") else {
        return Err(err(chart.title(), "plotters wrote no <svg> element"));
    };
    let Some(end) = buf[open..].find('>').map(|e| open + e) else {
        return Err(err(chart.title(), "unterminated <svg> element"));
    };
    let head = &buf[open..end];
    let accessible = format!(
        "{head} role=\"img\" aria-label=\"{}\" direction=\"ltr\" style=\"direction:ltr;max-width:100%;height:auto\"><title>{}</title><desc>{}</desc>",
        escape(chart.title()),
        escape(chart.title()),
        escape(chart.alt())
    );
    Ok(format!("{accessible}{}", &buf[end + 1..]))
}

/// Draws the chart into a PNG file, with the embedded font and right-to-left text in visual
/// order.
pub fn png(chart: &Chart, lang: Lang, path: &Path) -> Result<(), ReportError> {
    register_font();
    let (w, h) = chart.size();
    // Twice the size: crisp on slides and high-density screens.
    let root = BitMapBackend::new(path, (w * 2, h * 2)).into_drawing_area();
    let text = |s: &str| crate::visual(s, lang.rtl());
    draw(&root, chart, &text, 2).map_err(|e| match e {
        ReportError::Chart { chart, message } => ReportError::Chart {
            chart,
            message: format!("{message} (writing {})", path.display()),
        },
        other => other,
    })
}
