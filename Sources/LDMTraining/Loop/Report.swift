import Foundation
import LDMEngine

/// A plot of report.html: series read from metrics.jsonl by key, or points the task computed.
public enum ReportPlot {
    /// (label, x key, y key) series of the metrics lines that have both keys.
    case metrics(title: String, series: [(label: String, x: String, y: String)])
    case points(title: String, series: [(label: String, points: [(Double, Double)])])
    /// Points coloured by class (a 2-D embedding), one colour per class.
    case scatter(title: String, classes: [(label: String, points: [(Double, Double)])])
    /// Grey images in a grid (values clamped to [0, 1]): `rows` of `columns` images of `height × width` pixels each,
    /// `pixels` image after image, shown as one inline bitmap.
    case images(title: String, pixels: [Float], height: Int, width: Int, rows: Int, columns: Int)
}

/// report.html: the run's summary and inline SVG plots. Self-contained: no scripts, no external files.
enum Report {
    /// The page for `summary` with the task's facts and plots, reading series from `metrics`.
    static func html(summary: TrainingSummary, facts: String, plots: [ReportPlot], metrics: [[String: Any]]) -> String {
        let rendered = plots.map { plot -> String in
            switch plot {
            case let .metrics(title, series):
                return Report.plot(title: title, series.map { ($0.label, Report.series(metrics, x: $0.x, y: $0.y)) })
            case let .points(title, series):
                return Report.plot(title: title, series.map { ($0.label, $0.points) })
            case let .scatter(title, classes):
                return Report.scatter(title: title, classes)
            case let .images(title, pixels, height, width, rows, columns):
                return Report.imageGrid(title: title, pixels, height: height, width: width, rows: rows, columns: columns)
            }
        }
        return page(summary: summary, facts: facts, plots: rendered)
    }

    /// (x, y) pairs of the metrics entries that have both keys.
    static func series(_ metrics: [[String: Any]], x: String, y: String) -> [(Double, Double)] {
        metrics.compactMap { e -> (Double, Double)? in
            guard let a = (e[x] as? NSNumber)?.doubleValue, let b = (e[y] as? NSNumber)?.doubleValue else { return nil }
            return (a, b)
        }
    }

    /// The page itself: the summary's headline numbers, experiment-specific facts, then the plots.
    static func page(summary: TrainingSummary, facts: String, plots: [String]) -> String {
        let optimizer = ", optimiser \(summary.optimizer)", objective = ", objective \(summary.objective)"
        let perDimension = summary.r2PerDimension.map { $0.map { String(format: "%.4f", $0) } ?? "undefined" }.joined(separator: ", ")
        let r2 = summary.r2.map { String(format: "R² %.4f (per dimension %@),", $0, perDimension) } ?? "No R² (no true latents given),"
        return """
            <!doctype html><html><head><meta charset="utf-8"><title>ldm train \(summary.experiment)</title>
            <style>body{font-family:sans-serif;margin:2em;max-width:60em}svg{border:1px solid #ccc;margin:0.5em}</style></head><body>
            <h1>ldm train — \(summary.experiment)</h1>
            <p>\(r2)
            \(summary.epochs) epochs in \(String(format: "%.1f", summary.seconds)) s on the \(summary.backend) backend, seed \(summary.seed)\(optimizer)\(objective).
            \(facts)</p>
            \(plots.joined(separator: "\n"))
            </body></html>
            """
    }

    /// A 480 × 300 SVG line plot of the series (first black, second red) with its axis ranges printed.
    static func plot(title: String, _ series: [(String, [(Double, Double)])]) -> String {
        let all = series.flatMap(\.1)
        guard let minX = all.map(\.0).min(), let maxX = all.map(\.0).max(), let minY = all.map(\.1).min(),
              let maxY = all.map(\.1).max() else { return "<p>\(title): no data</p>" }
        let (w, h, pad) = (480.0, 300.0, 40.0)
        let sx = { (x: Double) in pad + (x - minX) / max(maxX - minX, 1e-12) * (w - 2 * pad) }
        let sy = { (y: Double) in h - pad - (y - minY) / max(maxY - minY, 1e-12) * (h - 2 * pad) }
        let colors = ["black", "red", "blue"]
        var body = ""
        for (index, (_, values)) in series.enumerated() {
            let path = values.map { String(format: "%.1f,%.1f", sx($0.0), sy($0.1)) }.joined(separator: " ")
            body += "<polyline fill=\"none\" stroke=\"\(colors[index % colors.count])\" stroke-width=\"1.5\" points=\"\(path)\"/>"
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))">
            <text x="\(Int(pad))" y="20" font-size="13">\(title)</text>
            <text x="\(Int(pad))" y="\(Int(h) - 10)" font-size="10">x \(String(format: "%.3g", minX))…\(String(format: "%.3g", maxX)), y \(String(format: "%.3g", minY))…\(String(format: "%.3g", maxY))</text>
            <rect x="\(Int(pad))" y="\(Int(pad))" width="\(Int(w - 2 * pad))" height="\(Int(h - 2 * pad))" fill="none" stroke="#ddd"/>
            \(body)</svg>
            """
    }

    /// The ten colours of the scatter plot's classes.
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// A 480 × 480 SVG scatter plot, one colour per class, with a legend.
    static func scatter(title: String, _ classes: [(String, [(Double, Double)])]) -> String {
        let all = classes.flatMap(\.1)
        guard let minX = all.map(\.0).min(), let maxX = all.map(\.0).max(), let minY = all.map(\.1).min(),
              let maxY = all.map(\.1).max() else { return "<p>\(title): no data</p>" }
        let (size, pad) = (480.0, 30.0)
        let sx = { (x: Double) in pad + (x - minX) / max(maxX - minX, 1e-12) * (size - 2 * pad) }
        let sy = { (y: Double) in size - pad - (y - minY) / max(maxY - minY, 1e-12) * (size - 2 * pad) }
        var body = ""
        for (index, (label, points)) in classes.enumerated() {
            let color = palette[index % palette.count]
            for (x, y) in points { body += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.6\" fill=\"%@\"/>", sx(x), sy(y), color) }
            body += "<text x=\"\(Int(size) + 5)\" y=\"\(40 + 16 * index)\" font-size=\"12\" fill=\"\(color)\">\(label)</text>"
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(size) + 90)" height="\(Int(size))" viewBox="0 0 \(Int(size) + 90) \(Int(size))">
            <text x="\(Int(pad))" y="20" font-size="13">\(title)</text>\(body)</svg>
            """
    }

    /// The grid as an inline 24-bit BMP (uncompressed, so no encoder library is needed), scaled up 3× for viewing.
    static func imageGrid(title: String, _ pixels: [Float], height: Int, width: Int, rows: Int, columns: Int) -> String {
        let gap = 2, cellW = width + gap, cellH = height + gap
        let (w, h) = (columns * cellW + gap, rows * cellH + gap)
        let stride = (3 * w + 3) / 4 * 4
        var bitmap = [UInt8](repeating: 255, count: stride * h)
        for image in 0..<min(rows * columns, pixels.count / max(height * width, 1)) {
            let (row, column) = (image / columns, image % columns)
            for y in 0..<height {
                for x in 0..<width {
                    let value = UInt8(max(0, min(1, pixels[(image * height + y) * width + x])) * 255)
                    let (px, py) = (gap + column * cellW + x, gap + row * cellH + y)
                    let at = (h - 1 - py) * stride + 3 * px   // BMP rows run bottom-up
                    (bitmap[at], bitmap[at + 1], bitmap[at + 2]) = (value, value, value)
                }
            }
        }
        var file: [UInt8] = Array("BM".utf8)
        let little = { (value: Int, bytes: Int) in (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        file += little(54 + bitmap.count, 4) + little(0, 4) + little(54, 4)
        file += little(40, 4) + little(w, 4) + little(h, 4) + little(1, 2) + little(24, 2) + little(0, 4) + little(bitmap.count, 4)
        file += little(2835, 4) + little(2835, 4) + little(0, 4) + little(0, 4) + bitmap
        return "<p>\(title)</p><img alt=\"\(title)\" width=\"\(3 * w)\" style=\"image-rendering:pixelated\" src=\"data:image/bmp;base64,\(Data(file).base64EncodedString())\">"
    }
}
