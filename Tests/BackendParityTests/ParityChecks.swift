import LDMEngine
import LDMReference
import Testing

/// The checks every backend must pass, written once and run by the CPU and OpenCL suites.
///
/// Tolerances: relative L2 error 1e-5 for float32 kernels (SPEC §9). Exactly-rounded kernels (elementwise,
/// transpose, max) must match to 1e-7, which only rounding of the Double reference back to float can touch.
enum ParityChecks {
    static let float32Tolerance = 1e-5
    static let exactTolerance = 1e-7

    /// Odd sizes, degenerate sizes, every transpose combination, α/β, batches with padding and a shared
    /// operand (stride 0).
    static let matmulCases: [MatmulShape] = {
        var cases: [MatmulShape] = []
        for (m, n, k) in [(1, 1, 1), (7, 33, 31), (33, 1, 7), (1000, 7, 33), (31, 1000, 3), (17, 19, 1000)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                cases.append(MatmulShape(m: m, n: n, k: k, transposeA: ta, transposeB: tb))
            }
        }
        cases.append(MatmulShape(m: 9, n: 5, k: 13, alpha: 0.5, beta: 0.25))
        cases.append(MatmulShape(m: 4, n: 6, k: 0, alpha: 1, beta: 0.5))                         // empty sum
        cases.append(MatmulShape(batch: 5, m: 7, n: 9, k: 11, transposeB: true))
        cases.append(MatmulShape(batch: 3, m: 33, n: 17, k: 5, transposeA: true, beta: 1))
        cases.append(MatmulShape(batch: 4, m: 6, n: 5, k: 7, strideA: 0))                         // shared A
        cases.append(MatmulShape(batch: 3, m: 5, n: 4, k: 3, strideA: 20, strideB: 15, strideC: 25))  // padded
        return cases
    }()

    static func matmul(_ backend: any Backend, _ s: MatmulShape, seed: UInt64 = 1) throws {
        var generator = SeededGenerator(seed: seed &+ UInt64(s.m * 131 + s.n * 17 + s.k))
        let hostA = generator.floats(s.requiredA, outliers: true), hostB = generator.floats(s.requiredB, outliers: true)
        var hostC = generator.floats(s.requiredC)
        if s.beta == 0 { hostC = hostC.map { _ in .nan } }   // β = 0 must not read C
        let a = try backend.upload(hostA, shape: [s.requiredA]), b = try backend.upload(hostB, shape: [s.requiredB])
        let c = try backend.upload(hostC, shape: [s.requiredC])
        try backend.matmul(a, b, into: c, s)
        var expected = Reference.matmul(hostA, hostB, hostC, s)
        var got = try backend.download(c)
        // Entries of C between padded batches are not part of the product: compare only the product's.
        if s.strideC > s.m * s.n {
            let inside = (0..<s.requiredC).filter { ($0 % s.strideC) < s.m * s.n }
            expected = inside.map { expected[$0] }
            got = inside.map { got[$0] }
        }
        expectClose(got, expected, tolerance: float32Tolerance, "matmul \(s) on \(backend.info)")
    }

    static func elementwise(_ backend: any Backend, count: Int) throws {
        var generator = SeededGenerator(seed: UInt64(count))
        let hostA = generator.floats(count, outliers: true), hostB = generator.floats(count, outliers: true)
        let a = try backend.upload(hostA, shape: [count]), b = try backend.upload(hostB, shape: [count])
        let out = try backend.makeTensor([count])
        try backend.add(a, b, into: out)
        expectClose(try backend.download(out), Reference.add(hostA, hostB), tolerance: exactTolerance, "add \(count)")
        try backend.scale(a, by: -1.5, into: out)
        expectClose(try backend.download(out), Reference.scale(hostA, by: -1.5), tolerance: exactTolerance, "scale \(count)")
        try backend.copy(b, to: out)
        try backend.axpy(0.75, a, out)
        // axpy may fuse the multiply-add (one rounding instead of two): float32 tolerance.
        expectClose(try backend.download(out), Reference.axpy(0.75, hostA, hostB), tolerance: float32Tolerance,
                    "axpy \(count)")
        try backend.scale(out, by: 2, into: out)   // aliasing output and input is allowed
        expectClose(try backend.download(out), Reference.axpy(0.75, hostA, hostB).map { 2 * $0 },
                    tolerance: float32Tolerance, "scale in place \(count)")
        if count >= 4 {   // ranged copies: stack two halves in swapped order, then refuse an overlap
            let half = count / 2
            let swapped = try backend.makeTensor([count])
            try backend.fill(swapped, with: 0)
            try backend.copy(a, offset: 0, to: swapped, offset: count - half, count: half)
            try backend.copy(a, offset: half, to: swapped, offset: 0, count: count - half)
            #expect(try backend.download(swapped) == Array(hostA[half...]) + Array(hostA[..<half]), "ranged copy \(count)")
            #expect(throws: LDMError.self) { try backend.copy(a, offset: 0, to: a, offset: 1, count: 2) }
            #expect(throws: LDMError.self) { try backend.copy(a, offset: 1, to: swapped, offset: 0, count: count) }
        }
        try backend.fill(out, with: 3.25)
        #expect(try backend.download(out).allSatisfy { $0 == 3.25 }, "fill \(count)")
    }

    static let rowsCases: [RowsShape] = [
        RowsShape(rows: 1, columns: 1), RowsShape(rows: 7, columns: 33), RowsShape(rows: 33, columns: 1000),
        RowsShape(rows: 1000, columns: 31), RowsShape(rows: 3, columns: 0), RowsShape(rows: 2, columns: 4099),
    ]

    static func reduce(_ backend: any Backend, _ s: RowsShape) throws {
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
                expectClose(got, expected, tolerance: float32Tolerance, "\(reduction) \(s) on \(backend.info)")
            }
        }
    }

    static func normalize(_ backend: any Backend, _ s: RowsShape) throws {
        var generator = SeededGenerator(seed: UInt64(s.rows * 13 + s.columns))
        var hostX = generator.floats(s.count, outliers: true)
        if s.rows > 1 { for j in 0..<s.columns { hostX[s.columns + j] = 0 } }   // a zero row stays zero
        let x = try backend.upload(hostX, shape: [s.rows, s.columns]), out = try backend.makeTensor([s.rows, s.columns])
        let norms = try backend.makeTensor([s.rows])
        try backend.normalizeRows(x, into: out, norms: norms, s)
        expectClose(try backend.download(out), Reference.normalizeRows(hostX, s), tolerance: float32Tolerance,
                    "normalizeRows \(s) on \(backend.info)")
        expectClose(try backend.download(norms), Reference.reduceRows(hostX, .norm, s), tolerance: float32Tolerance,
                    "normalizeRows norms \(s) on \(backend.info)")
    }

    /// Norms of rows whose squares overflow float32 (1e20² = 1e40) must still be finite and right.
    static func normWithoutOverflow(_ backend: any Backend) throws {
        let s = RowsShape(rows: 2, columns: 3)
        let hostX: [Float] = [3e20, 4e20, 0, 3e-25, 0, 4e-25]
        let x = try backend.upload(hostX, shape: [2, 3]), out = try backend.makeTensor([2])
        try backend.reduceRows(x, into: out, .norm, s)
        expectClose(try backend.download(out), [5e20, 5e-25], tolerance: float32Tolerance, "norm without overflow")
    }

    static func reduceBackward(_ backend: any Backend, _ s: RowsShape) throws {
        var generator = SeededGenerator(seed: UInt64(s.rows * 11 + s.columns))
        let hostX = generator.floats(s.count), hostG = generator.floats(s.rows)
        let x = try backend.upload(hostX, shape: [s.rows, s.columns]), y = try backend.makeTensor([s.rows])
        let gy = try backend.upload(hostG, shape: [s.rows]), gx = try backend.makeTensor([s.rows, s.columns])
        for reduction in RowReduction.allCases {
            try backend.reduceRows(x, into: y, reduction, s)
            try backend.reduceRowsBackward(x, y, gy, into: gx, reduction, s)
            expectClose(try backend.download(gx), Reference.reduceRowsBackward(hostX, hostG, reduction, s),
                        tolerance: float32Tolerance, "\(reduction) backward \(s) on \(backend.info)")
        }
    }

    static let transposeCases: [TransposeShape] = [
        TransposeShape(rows: 1, columns: 1), TransposeShape(rows: 7, columns: 33),
        TransposeShape(rows: 1000, columns: 31), TransposeShape(batch: 3, rows: 17, columns: 65),
        TransposeShape(batch: 2, rows: 0, columns: 5),
    ]

    static func transpose(_ backend: any Backend, _ s: TransposeShape) throws {
        var generator = SeededGenerator(seed: UInt64(s.count + 5))
        let hostX = generator.floats(s.count)
        let x = try backend.upload(hostX, shape: [s.count]), out = try backend.makeTensor([s.count])
        try backend.transpose(x, into: out, s)
        expectClose(try backend.download(out), Reference.transpose(hostX, s), tolerance: exactTolerance,
                    "transpose \(s) on \(backend.info)")
    }
}
