import Foundation
import LDMEngine
import LDMReference
import Testing

/// variance_features.cl on every backend: the features against the Double reference, ∂/∂w and ∂/∂x against
/// central differences.
@Suite("variance_features.cl")
struct VarianceFeaturesTests {
    @Test(arguments: TestBackends.all)
    func varianceFeaturesMatchTheReferenceAndDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 21)
        // 333 rows (not a multiple of a work-group), 37 features.
        let (rows, f) = (333, 37), shape = RowsShape(rows: rows, columns: f)
        let x = generator.floats(rows * f), w = generator.floats(f).map { 1 + 0.5 * $0 }, g = generator.floats(rows * f)
        let tx = try backend.upload(x, shape: [rows, f]), tw = try backend.upload(w, shape: [f])
        let y = try backend.makeTensor([rows, f]), means = try backend.makeTensor([rows])
        try backend.varianceFeatures(tx, tw, into: y, means: means, shape)
        let (x64, w64, g64) = (x.map(Double.init), w.map(Double.init), g.map(Double.init))
        let expected = Reference.varianceFeatures(x64, w64, rows: rows)
        expectClose(try backend.download(y), expected.y, tolerance: Tolerance.float32, "y on \(name)")
        expectClose(try backend.download(means), expected.means, tolerance: Tolerance.float32, "means on \(name)")
        let dw = try backend.makeTensor([f])
        try backend.varianceFeaturesBackward(tx, tw, means: means, try backend.upload(g, shape: [rows, f]), gradientW: dw, shape)
        let numeric = finiteDifferenceGradient(w64) { v in
            zip(Reference.varianceFeatures(x64, v, rows: rows).y, g64).reduce(0) { $0 + $1.0 * $1.1 }
        }
        expectClose(try backend.download(dw), numeric, tolerance: Tolerance.gradient, "dw on \(name)")
        expectClose(Reference.varianceFeaturesBackward(x64, w64, g64, rows: rows).dw.map { Float($0) }, numeric,
                    tolerance: Tolerance.gradient, "Reference.varianceFeaturesBackward dw")
        // ∂/∂x on the first 5 rows (rows are independent, so a 5-row problem is the same function of them).
        let few = 5 * f, fewShape = RowsShape(rows: 5, columns: f)
        let fx = try backend.upload(Array(x[0..<few]), shape: [5, f]), fg = try backend.upload(Array(g[0..<few]), shape: [5, f])
        let fy = try backend.makeTensor([5, f]), fm = try backend.makeTensor([5]), fdw = try backend.makeTensor([f])
        let dx = try backend.makeTensor([5, f])
        try backend.varianceFeatures(fx, tw, into: fy, means: fm, fewShape)
        try backend.varianceFeaturesBackward(fx, tw, means: fm, fg, gradientW: fdw, gradientX: dx, fewShape)
        let numericX = finiteDifferenceGradient(Array(x64[0..<few])) { v in
            zip(Reference.varianceFeatures(v, w64, rows: 5).y, g64[0..<few]).reduce(0) { $0 + $1.0 * $1.1 }
        }
        expectClose(try backend.download(dx), numericX, tolerance: Tolerance.gradient, "dx on \(name)")
        #expect(throws: LDMError.self) { try backend.varianceFeatures(tx, try backend.makeTensor([f + 1]), into: y, means: means, shape) }
    }
}
