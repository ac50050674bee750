import Foundation
import LDMEngine
import LDMReference
import Testing

/// reduce.cl on every backend: the row reductions, L2 normalisation and the row softmax against the Double reference
/// (odd shapes, outliers, overflowing squares), their backwards against the reference and central differences.
@Suite("reduce.cl")
struct ReduceTests {
    static let cases: [RowsShape] = [
        RowsShape(rows: 1, columns: 1), RowsShape(rows: 7, columns: 33), RowsShape(rows: 33, columns: 1000),
        RowsShape(rows: 1000, columns: 31), RowsShape(rows: 3, columns: 0), RowsShape(rows: 2, columns: 4099),
    ]

    @Test(arguments: TestBackends.all, cases)
    func reductionsMatchTheReference(_ name: String, _ s: RowsShape) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: UInt64(s.rows * 7 + s.columns))
        let hostX = generator.floats(s.count, outliers: true)
        let x = try backend.upload(hostX, shape: [s.rows, s.columns]), out = try backend.makeTensor([s.rows])
        for reduction in RowReduction.allCases {
            try backend.reduceRows(x, into: out, reduction, s)
            let expected = Reference.reduceRows(hostX, reduction, s)
            let got = try backend.download(out)
            if reduction == .max {
                #expect(got.map(Double.init) == expected, "max \(s) on \(backend.info)")
            } else {
                expectClose(got, expected, tolerance: Tolerance.float32, "\(reduction) \(s) on \(backend.info)")
            }
        }
    }

    @Test(arguments: TestBackends.all, cases)
    func normalizeMatchesTheReference(_ name: String, _ s: RowsShape) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: UInt64(s.rows * 13 + s.columns))
        var hostX = generator.floats(s.count, outliers: true)
        if s.rows > 1 { for j in 0..<s.columns { hostX[s.columns + j] = 0 } }   // a zero row stays zero
        let x = try backend.upload(hostX, shape: [s.rows, s.columns]), out = try backend.makeTensor([s.rows, s.columns])
        let norms = try backend.makeTensor([s.rows])
        try backend.normalizeRows(x, into: out, norms: norms, s)
        expectClose(try backend.download(out), Reference.normalizeRows(hostX, s), tolerance: Tolerance.float32,
                    "normalizeRows \(s) on \(backend.info)")
        expectClose(try backend.download(norms), Reference.reduceRows(hostX, .norm, s), tolerance: Tolerance.float32,
                    "normalizeRows norms \(s) on \(backend.info)")
    }

    /// Norms of rows whose squares overflow float32 (1e20² = 1e40) must still be finite and right.
    @Test(arguments: TestBackends.all)
    func normWithoutOverflow(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let s = RowsShape(rows: 2, columns: 3)
        let hostX: [Float] = [3e20, 4e20, 0, 3e-25, 0, 4e-25]
        let x = try backend.upload(hostX, shape: [2, 3]), out = try backend.makeTensor([2])
        try backend.reduceRows(x, into: out, .norm, s)
        expectClose(try backend.download(out), [5e20, 5e-25], tolerance: Tolerance.float32, "norm without overflow")
    }

    @Test(arguments: TestBackends.all, cases)
    func backwardMatchesTheReference(_ name: String, _ s: RowsShape) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: UInt64(s.rows * 11 + s.columns))
        let hostX = generator.floats(s.count), hostG = generator.floats(s.rows)
        let x = try backend.upload(hostX, shape: [s.rows, s.columns]), y = try backend.makeTensor([s.rows])
        let gy = try backend.upload(hostG, shape: [s.rows]), gx = try backend.makeTensor([s.rows, s.columns])
        for reduction in RowReduction.allCases {
            try backend.reduceRows(x, into: y, reduction, s)
            try backend.reduceRowsBackward(x, y, gy, into: gx, reduction, s)
            expectClose(try backend.download(gx), Reference.reduceRowsBackward(hostX, hostG, reduction, s),
                        tolerance: Tolerance.float32, "\(reduction) backward \(s) on \(backend.info)")
        }
    }

    /// L(x) = Σ_i g_i · reduce(x)_i; `reduceRowsBackward` must give ∂L/∂x.
    @Test(arguments: TestBackends.all, RowReduction.allCases)
    func backwardMatchesFiniteDifferences(_ name: String, _ reduction: RowReduction) throws {
        let backend = try TestBackends.named(name)
        let s = RowsShape(rows: 4, columns: 9)
        var generator = SeededGenerator(seed: 7)
        let hostX = generator.floats(s.count), hostG = generator.floats(s.rows)
        let expected = finiteDifferenceGradient(hostX.map(Double.init)) { x in
            zip(Reference.reduceRows(x, reduction, s), hostG).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let x = try backend.upload(hostX, shape: [s.rows, s.columns]), y = try backend.makeTensor([s.rows])
        let g = try backend.upload(hostG, shape: [s.rows]), gx = try backend.makeTensor([s.rows, s.columns])
        try backend.reduceRows(x, into: y, reduction, s)
        try backend.reduceRowsBackward(x, y, g, into: gx, reduction, s)
        expectClose(try backend.download(gx), expected, tolerance: Tolerance.gradient, "\(reduction) backward on \(name)")
    }

    /// L(x) = Σ g ⊙ normalize(x); `normalizeRowsBackward` must give ∂L/∂x.
    @Test(arguments: TestBackends.all)
    func normalizeBackwardMatchesFiniteDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let s = RowsShape(rows: 5, columns: 7)
        var generator = SeededGenerator(seed: 11)
        let hostX = generator.floats(s.count), hostG = generator.floats(s.count)
        let expected = finiteDifferenceGradient(hostX.map(Double.init)) { x in
            zip(Reference.normalizeRows(x, s), hostG).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let x = try backend.upload(hostX, shape: [5, 7]), out = try backend.makeTensor([5, 7])
        let norms = try backend.makeTensor([5]), g = try backend.upload(hostG, shape: [5, 7])
        let dx = try backend.makeTensor([5, 7])
        try backend.normalizeRows(x, into: out, norms: norms, s)
        try backend.normalizeRowsBackward(out, norms, g, into: dx, s)
        expectClose(try backend.download(dx), expected, tolerance: Tolerance.gradient, "normalize backward on \(name)")
    }

    /// Row softmax: odd shapes (one column, rows wider than a work-group), an inverse temperature, outliers that
    /// would overflow a raw exp; the backward against central differences of a weighted sum of the outputs.
    @Test(arguments: TestBackends.all)
    func softmaxMatchesTheReferenceAndDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 5)
        for (rows, columns, scale) in [(37, 10, Float(1)), (5, 1, 2), (3, 300, 0.7)] as [(Int, Int, Float)] {
            let shape = RowsShape(rows: rows, columns: columns)
            var host = generator.floats(rows * columns).map { 2 * $0 }
            host[0] = 200    // exp(200) overflows float32: the running maximum keeps the row finite
            let x = try backend.upload(host, shape: [rows, columns]), y = try backend.makeTensor([rows, columns])
            try backend.softmaxRows(x, into: y, scale: scale, shape)
            let values = try backend.download(y)
            expectClose(values, Reference.softmaxRows(host, scale: Double(scale), shape), tolerance: Tolerance.float32,
                        "softmax \(shape) ×\(scale) on \(name)")
            #expect(values.allSatisfy { $0.isFinite })
            let weights = generator.floats(rows * columns), w64 = weights.map(Double.init)
            let dx = try backend.makeTensor([rows, columns])
            try backend.softmaxRowsBackward(y, try backend.upload(weights, shape: [rows, columns]), into: dx, scale: scale, shape)
            // The differences on moderate inputs (at x = 200 the row is one-hot and every derivative underflows).
            var moderate = host
            moderate[0] = 0.5
            let my = try backend.makeTensor([rows, columns])
            try backend.softmaxRows(try backend.upload(moderate, shape: [rows, columns]), into: my, scale: scale, shape)
            try backend.softmaxRowsBackward(my, try backend.upload(weights, shape: [rows, columns]), into: dx, scale: scale, shape)
            let expected = finiteDifferenceGradient(moderate.map(Double.init)) { v in
                zip(Reference.softmaxRows(v, scale: Double(scale), shape), w64).reduce(0) { $0 + $1.0 * $1.1 }
            }
            expectClose(try backend.download(dx), expected, tolerance: Tolerance.gradient, "softmax' \(shape) on \(name)")
            let closed = Reference.softmaxRowsBackward(Reference.softmaxRows(moderate, scale: Double(scale), shape), w64,
                                                       scale: Double(scale), shape)
            expectClose(closed.map { Float($0) }, expected, tolerance: Tolerance.gradient, "Reference.softmaxRowsBackward \(shape)")
        }
        let t = try backend.makeTensor([2, 3])
        #expect(throws: LDMError.self) { try backend.softmaxRows(t, into: t, scale: 1, RowsShape(rows: 2, columns: 3)) }
        #expect(throws: LDMError.self) { try backend.softmaxRows(t, into: try backend.makeTensor([6]), scale: 0, RowsShape(rows: 2, columns: 3)) }
        #expect(throws: LDMError.self) { try backend.softmaxRows(t, into: try backend.makeTensor([5]), scale: 1, RowsShape(rows: 2, columns: 3)) }
    }
}
