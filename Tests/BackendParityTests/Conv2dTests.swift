import Foundation
import LDMEngine
import LDMReference
import Testing

/// conv2d.cl on every backend: the im2col + matmul convolution against the direct Double convolution, and its
/// backward (input, weight and bias gradients) against central differences of Σ dy·y; bad shapes refused.
@Suite("conv2d.cl")
struct Conv2dTests {
    static let shapes = [
        // Stride 2 with padding 1 (the encoders' downsampling), odd extents, channels not a multiple of anything.
        Conv2dShape(batch: 2, height: 7, width: 6, inputChannels: 3, outputChannels: 5, kernel: 3, stride: 2, padding: 1),
        // Stride 1, no padding, a 1-channel input (the first layer on grey images).
        Conv2dShape(batch: 3, height: 5, width: 5, inputChannels: 1, outputChannels: 4, kernel: 3),
        // A pointwise convolution (the residual shortcut): the input is its own im2col matrix.
        Conv2dShape(batch: 2, height: 3, width: 4, inputChannels: 6, outputChannels: 3, kernel: 1),
        // A 1 × 1 kernel at stride 2 (a downsampling shortcut) goes through im2col.
        Conv2dShape(batch: 2, height: 5, width: 4, inputChannels: 2, outputChannels: 3, kernel: 1, stride: 2),
    ]

    @Test(arguments: TestBackends.all)
    func convolutionMatchesTheDirectReferenceAndDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0xc0)
        for s in Self.shapes {
            let x = generator.floats(s.inputCount), w = generator.floats(s.weightCount), b = generator.floats(s.outputChannels)
            let g = generator.floats(s.outputCount)
            let (tx, tw, tb) = (try backend.upload(x, shape: s.inputShape), try backend.upload(w, shape: s.weightShape),
                                try backend.upload(b, shape: [s.outputChannels]))
            let y = try backend.makeTensor(s.outputShape), columns = try backend.makeTensor([s.positions, s.patch])
            try backend.conv2d(tx, weight: tw, bias: tb, into: y, columns: columns, s)
            let (x64, w64, b64, g64) = (x.map(Double.init), w.map(Double.init), b.map(Double.init), g.map(Double.init))
            expectClose(try backend.download(y), Reference.conv2d(x64, w64, b64, s), tolerance: Tolerance.float32, "y \(s) on \(name)")

            let dw = try backend.makeTensor(s.weightShape), db = try backend.makeTensor([s.outputChannels])
            let dx = try backend.makeTensor(s.inputShape), dColumns = try backend.makeTensor([s.positions, s.patch])
            try backend.conv2dBackward(try backend.upload(g, shape: s.outputShape), weight: tw,
                                       columns: s.isPointwise ? tx : columns, dWeight: dw, dBias: db, dx: dx,
                                       dColumns: dColumns, s)
            func functional(_ x: [Double], _ w: [Double], _ b: [Double]) -> Double {
                zip(Reference.conv2d(x, w, b, s), g64).reduce(0) { $0 + $1.0 * $1.1 }
            }
            expectClose(try backend.download(dx), finiteDifferenceGradient(x64) { functional($0, w64, b64) },
                        tolerance: Tolerance.gradient, "dx \(s) on \(name)")
            expectClose(try backend.download(dw), finiteDifferenceGradient(w64) { functional(x64, $0, b64) },
                        tolerance: Tolerance.gradient, "dw \(s) on \(name)")
            expectClose(try backend.download(db), finiteDifferenceGradient(b64) { functional(x64, w64, $0) },
                        tolerance: Tolerance.gradient, "db \(s) on \(name)")
            // The Double backward the benchmark validates against agrees with the differences too.
            let closed = Reference.conv2dBackward(x64, w64, g64, s)
            expectClose(closed.dx.map { Float($0) }, finiteDifferenceGradient(x64) { functional($0, w64, b64) },
                        tolerance: Tolerance.gradient, "Reference.conv2dBackward dx \(s)")
            expectClose(closed.dw.map { Float($0) }, finiteDifferenceGradient(w64) { functional(x64, $0, b64) },
                        tolerance: Tolerance.gradient, "Reference.conv2dBackward dw \(s)")
        }
    }

    @Test(arguments: TestBackends.all)
    func im2colIsTheAdjointOfCol2im(_ name: String) throws {
        // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for any x and c: the two kernels are each other's transpose.
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0xad)
        let s = Conv2dShape(batch: 2, height: 6, width: 5, inputChannels: 2, outputChannels: 1, kernel: 3, stride: 2, padding: 1)
        let x = generator.floats(s.inputCount), c = generator.floats(s.columnCount)
        let columns = try backend.makeTensor([s.columnCount]), dx = try backend.makeTensor([s.inputCount])
        try backend.im2col(try backend.upload(x, shape: [s.inputCount]), into: columns, s)
        try backend.col2im(try backend.upload(c, shape: [s.columnCount]), into: dx, s)
        let left = zip(try backend.download(columns), c).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let right = zip(x, try backend.download(dx)).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(left - right) <= 1e-4 * max(1, abs(left)), "⟨im2col x, c⟩ = \(left), ⟨x, col2im c⟩ = \(right)")
    }

    @Test(arguments: TestBackends.all)
    func channelBiasAndSumsMatchTheirDefinitions(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0xb1)
        let shape = RowsShape(rows: 301, columns: 7)
        let y = generator.floats(shape.count), b = generator.floats(7)
        let ty = try backend.upload(y, shape: [301, 7]), sums = try backend.makeTensor([7])
        try backend.addChannelBias(try backend.upload(b, shape: [7]), to: ty, shape)
        expectClose(try backend.download(ty), y.indices.map { Double(y[$0]) + Double(b[$0 % 7]) }, tolerance: Tolerance.exact, "bias on \(name)")
        try backend.channelSums(ty, into: sums, shape)
        let shifted = try backend.download(ty)
        let expected = (0..<7).map { c in stride(from: c, to: shape.count, by: 7).reduce(0.0) { $0 + Double(shifted[$1]) } }
        expectClose(try backend.download(sums), expected, tolerance: Tolerance.float32, "channel sums on \(name)")
    }

    @Test func badConvolutionShapesAreRefused() throws {
        let backend = try TestBackends.named("cpu")
        let s = Conv2dShape(batch: 1, height: 4, width: 4, inputChannels: 1, outputChannels: 2, kernel: 3, padding: 1)
        let x = try backend.makeTensor(s.inputShape), w = try backend.makeTensor(s.weightShape), y = try backend.makeTensor(s.outputShape)
        let columns = try backend.makeTensor([s.columnCount])
        #expect(throws: LDMError.self) {   // the wrong output size
            try backend.conv2d(x, weight: w, bias: nil, into: try backend.makeTensor([3]), columns: columns, s)
        }
        #expect(throws: LDMError.self) {   // padding as large as the kernel
            var bad = s; bad.padding = 3
            try backend.conv2d(x, weight: w, bias: nil, into: y, columns: columns, bad)
        }
        #expect(throws: LDMError.self) {   // a kernel larger than the padded image
            var bad = s; bad.kernel = 7
            try backend.im2col(x, into: columns, bad)
        }
        #expect(throws: LDMError.self) {   // a tensor past 32-bit indexing, without overflowing on the way
            let huge = Conv2dShape(batch: Int.max / 2, height: 1 << 20, width: 1 << 20, inputChannels: 3, outputChannels: 1, kernel: 1)
            try huge.validate("conv2d")
        }
        #expect(throws: LDMError.self) {   // no columns for a non-pointwise convolution
            try backend.conv2d(x, weight: w, bias: nil, into: y, columns: nil, s)
        }
    }
}
