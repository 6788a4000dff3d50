//! The runner's plots: for each program and thread count, one SVG with two
//! bar panels, time (wall, with CPU time beside it) and peak RSS, one bar
//! group per system that ran. Drawn with plotters' SVG backend (no fonts
//! needed: the SVG names a font family and the viewer draws the text).

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// One system's bars.
pub(crate) struct Bar {
    pub(crate) system: String,
    pub(crate) wall_s: f64,
    pub(crate) cpu_s: f64,
    pub(crate) rss_mb: f64,
}

/// Draw `bars` for `title` into `path`.
pub(crate) fn draw(path: &Path, title: &str, bars: &[Bar]) -> Result<(), String> {
    if bars.is_empty() {
        return Ok(());
    }
    let root = SVGBackend::new(path, (1100, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(550);
    let names: Vec<&str> = bars.iter().map(|b| b.system.as_str()).collect();
    let time: Vec<(f64, f64)> = bars.iter().map(|b| (b.wall_s, b.cpu_s)).collect();
    let rss: Vec<(f64, f64)> = bars.iter().map(|b| (b.rss_mb, f64::NAN)).collect();
    panel(&left, "time, s (wall filled; CPU outlined beside it)", &names, &time)?;
    panel(&right, "peak RSS, MB", &names, &rss)?;
    root.present().map_err(|e| e.to_string())
}

/// One panel: a bar (and, if the second value is a number, a second bar
/// beside it) per system.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    names: &[&str],
    values: &[(f64, f64)],
) -> Result<(), String> {
    let top = values.iter().flat_map(|&(a, b)| [a, b]).filter(|v| v.is_finite()).fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let k = names.len() as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0u32..k).into_segmented(), 0f64..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(names.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i as usize).map_or(String::new(), |s| (*s).to_string())
            }
            SegmentValue::Last => String::new(),
        })
        .draw()
        .map_err(|e| e.to_string())?;
    let two = values.iter().any(|v| v.1.is_finite());
    // Bar margins in pixels, from the plotting width each system gets.
    let seg = (area.dim_in_pixel().0.saturating_sub(84) / k.max(1)) as f64;
    let px = |f: f64| (seg * f) as u32;
    let colour = |i: usize| Palette99::pick(i).mix(0.9);
    let bars = values.iter().enumerate().flat_map(|(i, &(a, b))| {
        let x = i as u32;
        let mut v = vec![{
            let mut r =
                Rectangle::new([(SegmentValue::Exact(x), 0.0), (SegmentValue::Exact(x + 1), a)], colour(i).filled());
            if two {
                r.set_margin(0, 0, px(0.1), px(0.5));
            } else {
                r.set_margin(0, 0, px(0.2), px(0.2));
            }
            r
        }];
        if two && b.is_finite() {
            let mut r = Rectangle::new(
                [(SegmentValue::Exact(x), 0.0), (SegmentValue::Exact(x + 1), b)],
                colour(i).stroke_width(2),
            );
            r.set_margin(0, 0, px(0.5), px(0.1));
            v.push(r);
        }
        v
    });
    chart.draw_series(bars).map_err(|e| e.to_string())?;
    Ok(())
}
