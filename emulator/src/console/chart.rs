//! The stream page's chart: records taken in per second over the last
//! minutes, as the AWS console's IncomingRecords graph shows them. Drawn as
//! SVG by plotters, inline in the page (no script, no image request).

use plotters::prelude::*;

use crate::kinesis::metrics::Second;

/// An SVG line chart of records per second; the x axis counts seconds back
/// from now.
pub fn incoming_records(seconds: &[Second]) -> String {
    chart("Incoming records (per second)", seconds, |s| s.records)
}

/// The same for bytes, as the AWS console's IncomingBytes.
pub fn incoming_bytes(seconds: &[Second]) -> String {
    chart("Incoming bytes (per second)", seconds, |s| s.bytes)
}

/// Records put and records read per minute over the last hour, from the
/// emulator's `AWS/Kinesis` metrics (IncomingRecords, GetRecords.Records):
/// `minutes` holds (minutes ago, put, read), oldest first.
pub fn records_per_minute(minutes: &[(i64, u64, u64)]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 240)).into_drawing_area();
        let _ = draw_per_minute(&root, minutes);
        let _ = root.present();
    }
    svg
}

fn draw_per_minute(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    minutes: &[(i64, u64, u64)],
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    root.fill(&WHITE)?;
    let span = minutes.len() as i64;
    let highest = minutes
        .iter()
        .map(|(_, put, read)| *put.max(read))
        .max()
        .unwrap_or(0)
        .max(1);
    let mut chart = ChartBuilder::on(root)
        .caption("Records per minute, last hour: put and read", ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(-span..0i64, 0..highest + highest / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc("minutes ago")
        .x_labels(7)
        .y_labels(5)
        .draw()?;
    let put = RGBColor(140, 79, 255);
    let read = RGBColor(0, 150, 110);
    chart
        .draw_series(LineSeries::new(
            minutes.iter().map(|(ago, count, _)| (-ago, *count)),
            ShapeStyle::from(&put).stroke_width(2),
        ))?
        .label("IncomingRecords")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], put));
    chart
        .draw_series(LineSeries::new(
            minutes.iter().map(|(ago, _, count)| (-ago, *count)),
            ShapeStyle::from(&read).stroke_width(2),
        ))?
        .label("GetRecords.Records")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], read));
    // Upper left: the newest minutes, on the right, are where the lines rise.
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn chart(caption: &str, seconds: &[Second], value: fn(&Second) -> u64) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 220)).into_drawing_area();
        let _ = draw(&root, caption, seconds, value);
        let _ = root.present();
    }
    svg
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    seconds: &[Second],
    value: fn(&Second) -> u64,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    root.fill(&WHITE)?;
    let span = seconds.len() as i64;
    let highest = seconds.iter().map(value).max().unwrap_or(0).max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(-span..0i64, 0..highest + highest / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc("seconds ago")
        .x_labels(7)
        .y_labels(5)
        .draw()?;
    let now = seconds.last().map_or(0, |s| s.at);
    chart.draw_series(LineSeries::new(
        seconds.iter().map(|s| (s.at - now, value(s))),
        ShapeStyle::from(&RGBColor(140, 79, 255)).stroke_width(2),
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_minute_chart_has_both_series() {
        let minutes: Vec<(i64, u64, u64)> = (0..60)
            .rev()
            .map(|ago| (ago, (ago % 5) as u64, (ago % 3) as u64))
            .collect();
        let svg = records_per_minute(&minutes);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("IncomingRecords") && svg.contains("GetRecords.Records"));
    }

    #[test]
    fn the_chart_is_an_svg_with_its_caption() {
        let seconds: Vec<Second> = (0..60)
            .map(|i| Second {
                at: 1000 + i,
                records: (i % 7) as u64,
                bytes: 0,
            })
            .collect();
        let svg = incoming_records(&seconds);
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert!(svg.contains("Incoming records"));
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "no line drawn"
        );
    }
}
