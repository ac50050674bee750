import Foundation
import LDMCPU
import LDMEngine
import LDMReference
import Testing

/// lse: the fused pairwise log-sum-exp on every backend against the Double reference.
@Suite("lse.cl")
struct LSETests {
    /// Shapes across the CPU's 1024-row and 2048-column tile edges (and the blocked kernels' 8-row and 32-column
    /// blocks), both kernels, with and without the diagonal.
    static let shapes: [PairwiseLSEShape] = [
        PairwiseLSEShape(rows: 1, columns: 1, dimension: 1, kernel: .dot, scale: 1),
        PairwiseLSEShape(rows: 7, columns: 33, dimension: 5, kernel: .dot, scale: 5),
        PairwiseLSEShape(rows: 33, columns: 33, dimension: 7, kernel: .squaredDistance, scale: 0.7, excludeDiagonal: true),
        PairwiseLSEShape(rows: 1030, columns: 2100, dimension: 3, kernel: .dot, scale: 2),
        PairwiseLSEShape(rows: 257, columns: 257, dimension: 4, kernel: .squaredDistance, scale: 1.5, excludeDiagonal: true),
        PairwiseLSEShape(rows: 2, columns: 2, dimension: 3, kernel: .dot, scale: 5, excludeDiagonal: true),
        // A rank's rows against the whole batch, itself first (the data-parallel KDE entropy), across the tile edges.
        PairwiseLSEShape(rows: 7, columns: 40, dimension: 5, kernel: .dot, scale: 2, excludeDiagonal: true),
        PairwiseLSEShape(rows: 1030, columns: 2100, dimension: 3, kernel: .squaredDistance, scale: 0.5, excludeDiagonal: true),
    ]

    @Test(arguments: TestBackends.withTiledLSE, shapes)
    func forwardMatchesTheReference(_ name: String, _ s: PairwiseLSEShape) throws {
        let cpu = try TestBackends.named(name)
        var generator = SeededGenerator(seed: UInt64(s.rows * 31 + s.columns))
        // Outliers (×100) make some similarities dominate by thousands: only a running maximum keeps them finite.
        let hostX = generator.floats(s.rows * s.dimension, outliers: true), hostY = generator.floats(s.columns * s.dimension)
        // Leaving out the diagonal, x is the first rows of y.
        let y = s.excludeDiagonal ? hostX + hostY.suffix((s.columns - s.rows) * s.dimension) : hostY
        let tx = try cpu.upload(hostX, shape: [s.rows, s.dimension]), ty = try cpu.upload(y, shape: [s.columns, s.dimension])
        let lse = try cpu.makeTensor([s.rows])
        try cpu.pairwiseLSE(tx, ty, into: lse, s)
        expectClose(try cpu.download(lse), Reference.pairwiseLSE(hostX, y, s), tolerance: Tolerance.float32,
                    "pairwiseLSE \(s) on \(name)")
    }

    /// L = Σ_i g_i·lse_i; dx and dy against central finite differences in Double.
    @Test(arguments: TestBackends.withTiledLSE, [(PairwiseKernel.dot, false), (.dot, true), (.squaredDistance, false), (.squaredDistance, true)])
    func gradientsMatchFiniteDifferences(_ name: String, _ variant: (PairwiseKernel, Bool)) throws {
        let (kernel, sameSet) = variant
        let cpu = try TestBackends.named(name)
        let s = PairwiseLSEShape(rows: 6, columns: 6, dimension: 3, kernel: kernel, scale: 0.8, excludeDiagonal: sameSet)
        var generator = SeededGenerator(seed: sameSet ? 5 : 6)
        let hostX = generator.floats(18), hostY = sameSet ? hostX : generator.floats(18), hostG = generator.floats(6)
        let loss = { (x: [Double], y: [Double]) in
            zip(Reference.pairwiseLSE(x, y, s), hostG).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let tx = try cpu.upload(hostX, shape: [6, 3]), ty = try cpu.upload(hostY, shape: [6, 3])
        let lse = try cpu.makeTensor([6]), g = try cpu.upload(hostG, shape: [6])
        let dx = try cpu.makeTensor([6, 3]), dy = try cpu.makeTensor([6, 3])
        try cpu.pairwiseLSE(tx, ty, into: lse, s)
        try cpu.pairwiseLSEBackward(tx, ty, lse, g, dx: dx, dy: dy, s)
        let x64 = hostX.map(Double.init), y64 = hostY.map(Double.init)
        if sameSet {
            // One set z on both sides (the KDE entropy): its gradient is dx + dy.
            let expected = finiteDifferenceGradient(x64) { loss($0, $0) }
            let total = zip(try cpu.download(dx), try cpu.download(dy)).map { $0 + $1 }
            expectClose(total, expected, tolerance: Tolerance.gradient, "d/dz \(s) on \(name)")
        } else {
            expectClose(try cpu.download(dx), finiteDifferenceGradient(x64) { loss($0, y64) },
                        tolerance: Tolerance.gradient, "d/dx \(s) on \(name)")
            expectClose(try cpu.download(dy), finiteDifferenceGradient(y64) { loss(x64, $0) },
                        tolerance: Tolerance.gradient, "d/dy \(s) on \(name)")
        }
    }

    /// Rows that are the first of the columns, each leaving out its own column (a data-parallel rank's share of the
    /// KDE entropy): dx and dy against central differences, x and y varied independently.
    @Test(arguments: TestBackends.withTiledLSE, [PairwiseKernel.dot, .squaredDistance])
    func aRectangularBlockLeavesOutItsDiagonal(_ name: String, _ kernel: PairwiseKernel) throws {
        let cpu = try TestBackends.named(name)
        let s = PairwiseLSEShape(rows: 3, columns: 7, dimension: 2, kernel: kernel, scale: 0.9, excludeDiagonal: true)
        var generator = SeededGenerator(seed: 8)
        let hostY = generator.floats(14), hostX = Array(hostY.prefix(6)), hostG = generator.floats(3)
        let loss = { (x: [Double], y: [Double]) in zip(Reference.pairwiseLSE(x, y, s), hostG).reduce(0) { $0 + $1.0 * Double($1.1) } }
        let tx = try cpu.upload(hostX, shape: [3, 2]), ty = try cpu.upload(hostY, shape: [7, 2])
        let lse = try cpu.makeTensor([3]), g = try cpu.upload(hostG, shape: [3])
        let dx = try cpu.makeTensor([3, 2]), dy = try cpu.makeTensor([7, 2])
        try cpu.pairwiseLSE(tx, ty, into: lse, s)
        expectClose(try cpu.download(lse), Reference.pairwiseLSE(hostX, hostY, s), tolerance: Tolerance.float32, "lse \(s) on \(name)")
        try cpu.pairwiseLSEBackward(tx, ty, lse, g, dx: dx, dy: dy, s)
        let x64 = hostX.map(Double.init), y64 = hostY.map(Double.init)
        expectClose(try cpu.download(dx), finiteDifferenceGradient(x64) { loss($0, y64) }, tolerance: Tolerance.gradient, "d/dx \(s) on \(name)")
        expectClose(try cpu.download(dy), finiteDifferenceGradient(y64) { loss(x64, $0) }, tolerance: Tolerance.gradient, "d/dy \(s) on \(name)")
    }

    /// One set on both sides (the same tensor): the CPU takes its symmetric path. Across the 1024-row tile edge
    /// and over three tiles (rows folded by columns from two earlier tiles), both kernels, with and without the
    /// diagonal.
    @Test(arguments: TestBackends.withTiledLSE, [(1, PairwiseKernel.dot, false), (7, .squaredDistance, true), (513, .dot, true),
                                (1100, .squaredDistance, false), (1100, .dot, false), (2100, .squaredDistance, true),
                                (2100, .dot, true)])
    func oneSetForwardMatchesTheReference(_ name: String, _ c: (Int, PairwiseKernel, Bool)) throws {
        let backend = try TestBackends.named(name)
        let (rows, kernel, leaveOneOut) = c
        let s = PairwiseLSEShape(rows: rows, columns: rows, dimension: 5, kernel: kernel, scale: 0.9,
                                 excludeDiagonal: leaveOneOut && rows > 1)
        var generator = SeededGenerator(seed: UInt64(rows))
        let host = generator.floats(rows * 5, outliers: true)
        let z = try backend.upload(host, shape: [rows, 5]), lse = try backend.makeTensor([rows])
        try backend.pairwiseLSE(z, z, into: lse, s)
        expectClose(try backend.download(lse), Reference.pairwiseLSE(host, host, s), tolerance: Tolerance.float32,
                    "one-set pairwiseLSE \(s) on \(name)")
    }

    /// The one-set backward: against finite differences (small), and against the general path's dx + dy across
    /// two and three 1024-row tiles. Without outliers every tile's log-sum-exps lie within
    /// `CPUBackend.sharedWeightSpread` of each other (the CPU takes one exponential per pair); with outliers (×100)
    /// they spread far wider (two exponentials per pair).
    @Test(arguments: TestBackends.withTiledLSE, [PairwiseKernel.dot, .squaredDistance])
    func oneSetBackwardMatches(_ name: String, _ kernel: PairwiseKernel) throws {
        let backend = try TestBackends.named(name)
        for (rows, d, outliers) in [(6, 3, false), (1100, 4, false), (1100, 4, true), (2100, 3, false)] {
            let s = PairwiseLSEShape(rows: rows, columns: rows, dimension: d, kernel: kernel, scale: 0.8, excludeDiagonal: true)
            var generator = SeededGenerator(seed: UInt64(rows + d))
            let host = generator.floats(rows * d, outliers: outliers), hostG = generator.floats(rows)
            let z = try backend.upload(host, shape: [rows, d]), g = try backend.upload(hostG, shape: [rows])
            let lse = try backend.makeTensor([rows]), dz = try backend.makeTensor([rows, d])
            try backend.pairwiseLSE(z, z, into: lse, s)
            try backend.pairwiseLSESelfBackward(z, lse, g, dz: dz, s)
            if rows <= 6 {
                let fd = finiteDifferenceGradient(host.map(Double.init)) { x in
                    zip(Reference.pairwiseLSE(x, x, s), hostG).reduce(0) { $0 + $1.0 * Double($1.1) }
                }
                expectClose(try backend.download(dz), fd, tolerance: Tolerance.gradient, "one-set d/dz \(s) on \(name)")
            } else {
                let copy = try backend.upload(host, shape: [rows, d])   // a second tensor: the general path
                let dx = try backend.makeTensor([rows, d]), dy = try backend.makeTensor([rows, d])
                try backend.pairwiseLSEBackward(z, copy, lse, g, dx: dx, dy: dy, s)
                let general = zip(try backend.download(dx), try backend.download(dy)).map { Double($0 + $1) }
                expectClose(try backend.download(dz), general, tolerance: Tolerance.float32,
                            "one-set vs general backward \(s) on \(name)")
            }
        }
    }

    /// κ = 200 (τ = 0.005), d = 256, B = 4096 on unit rows: exp(200) overflows float32, so only a running
    /// maximum keeps this finite. Checked on every row for finiteness and on 64 sampled rows against Double.
    @Test(arguments: TestBackends.withTiledLSE)
    func staysFiniteAtKappa200(_ name: String) throws {
        let cpu = try TestBackends.named(name)
        let (rows, d) = (4096, 256)
        let s = PairwiseLSEShape(rows: rows, columns: rows, dimension: d, kernel: .dot, scale: 200)
        var generator = SeededGenerator(seed: 200)
        var z = generator.floats(rows * d)
        for i in 0..<rows {
            let norm = (0..<d).reduce(Float(0)) { $0 + z[i * d + $1] * z[i * d + $1] }.squareRoot()
            for k in 0..<d { z[i * d + k] /= norm }
        }
        let tz = try cpu.upload(z, shape: [rows, d]), lse = try cpu.makeTensor([rows])
        try cpu.pairwiseLSE(tz, tz, into: lse, s)
        let got = try cpu.download(lse)
        #expect(got.allSatisfy { $0.isFinite })
        let sampled = (0..<64).map { $0 * 64 + 7 }
        let sampleShape = PairwiseLSEShape(rows: 1, columns: rows, dimension: d, kernel: .dot, scale: 200)
        let expected = sampled.map { i in Reference.pairwiseLSE(Array(z[(i * d)..<((i + 1) * d)]), z, sampleShape)[0] }
        expectClose(sampled.map { got[$0] }, expected, tolerance: Tolerance.float32, "κ = 200 rows")
    }

    @Test(arguments: TestBackends.withTiledLSE)
    func refusesBadScalesAndShapes(_ name: String) throws {
        let cpu = try TestBackends.named(name)
        let x = try cpu.makeTensor([4, 2]), lse = try cpu.makeTensor([4])
        for scale: Float in [0, -1, .nan, .infinity] {
            #expect(throws: LDMError.self) {
                try cpu.pairwiseLSE(x, x, into: lse, PairwiseLSEShape(rows: 4, columns: 4, dimension: 2, kernel: .dot, scale: scale))
            }
        }
        #expect(throws: LDMError.self) {
            try cpu.pairwiseLSE(x, x, into: lse, PairwiseLSEShape(rows: 4, columns: 2, dimension: 4, kernel: .dot, scale: 1, excludeDiagonal: true))
        }
        let s = PairwiseLSEShape(rows: 4, columns: 4, dimension: 2, kernel: .dot, scale: 1)
        let dy = try cpu.makeTensor([4, 2])
        #expect(throws: LDMError.self, "lse may not alias x") {
            try cpu.pairwiseLSE(x, x, into: try x.reshaped([8]), PairwiseLSEShape(rows: 8, columns: 8, dimension: 1, kernel: .dot, scale: 1))
        }
        #expect(throws: LDMError.self, "dx may not alias x") { try cpu.pairwiseLSEBackward(x, x, lse, lse, dx: x, dy: dy, s) }
    }
}
