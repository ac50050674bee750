import Foundation
import LDMEngine

/// report.html: the run's summary and inline SVG plots (loss and R² curves, true vs decoded trajectory of a test
/// sequence). Self-contained: no scripts, no external files.
enum Report {
    static func write(summary: TrainingSummary, metrics: [[String: Any]], truth: [Float], decoded: [Float], to path: String) throws {
        let losses = metrics.compactMap { e -> (Double, Double)? in
            guard let step = e["step"] as? Int, let loss = e["loss"] as? Double else { return nil }
            return (Double(step), loss)
        }
        let r2 = metrics.compactMap { e -> (Double, Double)? in
            guard let epoch = e["epoch"] as? Int, let value = e["r2"] as? Double else { return nil }
            return (Double(epoch), value)
        }
        let points = { (v: [Float]) in stride(from: 0, to: v.count - 1, by: 2).map { (Double(v[$0]), Double(v[$0 + 1])) } }
        let eigen = summary.aEigenvalues.map { String(format: "%.4f %@ %.4fi", $0[0], $0[1] < 0 ? "−" : "+", abs($0[1])) }
        let html = """
            <!doctype html><html><head><meta charset="utf-8"><title>ldm train \(summary.experiment)</title>
            <style>body{font-family:sans-serif;margin:2em;max-width:60em}svg{border:1px solid #ccc;margin:0.5em}</style></head><body>
            <h1>ldm train — \(summary.experiment)</h1>
            <p>Held-out R² \(String(format: "%.4f", summary.r2)) (per dimension \(summary.r2PerDimension.map { String(format: "%.4f", $0) }.joined(separator: ", "))),
            \(summary.epochs) epochs in \(String(format: "%.1f", summary.seconds)) s on the \(summary.backend) backend, seed \(summary.seed).
            Eigenvalues of A: \(eigen.joined(separator: ", ")); rotation per step \(String(format: "%.4f", summary.rotationPerStep)) rad.</p>
            \(plot(title: "training loss by step", [("loss", losses)], lines: true))
            \(plot(title: "held-out R² by epoch", [("R²", r2)], lines: true))
            \(plot(title: "test sequence 0: true (black) and decoded (red) position", [("true", points(truth)), ("decoded", points(decoded))], lines: true))
            </body></html>
            """
        do {
            try Data(html.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw LDMError.invalidFile(path: path, problem: "cannot write: \((error as NSError).localizedDescription)")
        }
    }

    /// A 480 × 300 SVG line plot of the series (first black, second red) with its axis ranges printed.
    static func plot(title: String, _ series: [(String, [(Double, Double)])], lines: Bool) -> String {
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
}
