import LDMEngine
import LDMReference

/// conv2d.cl: the forward alone, and forward and backward (input, weight and bias gradients), of the reference encoder's three
/// convolutions at batch 512 (two views of 256 images), GFLOP/s of the three products (im2col, col2im and the bias
/// included in the time). Each is validated first on a batch of 2 of the same shape against the direct Double
/// convolution and its Double backward.
public enum Conv2dBenchmark {
    public static let shapes = [
        Conv2dShape(batch: 512, height: 28, width: 28, inputChannels: 1, outputChannels: 32, kernel: 3, padding: 1),
        Conv2dShape(batch: 512, height: 28, width: 28, inputChannels: 32, outputChannels: 64, kernel: 3, stride: 2, padding: 1),
        Conv2dShape(batch: 512, height: 14, width: 14, inputChannels: 64, outputChannels: 128, kernel: 3, stride: 2, padding: 1),
    ]

    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        try shapes.flatMap { try run(context, $0) }
    }

    static func run(_ context: BenchmarkContext, _ s: Conv2dShape) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0xc02d)
        // Validation on two images of the same shape: the kernels' code paths do not depend on the batch.
        var small = s
        small.batch = 2
        let (x, w, b, g) = (generator.floats(small.inputCount), generator.floats(small.weightCount), generator.floats(s.outputChannels),
                            generator.floats(small.outputCount))
        let run = try Case(backend, small, x: x, w: w, b: b, dy: g)
        try run.forwardAndBackward()
        let reference = Reference.conv2d(x.map(Double.init), w.map(Double.init), b.map(Double.init), small)
        let gradients = Reference.conv2dBackward(x.map(Double.init), w.map(Double.init), g.map(Double.init), small)
        let error = max(Validation.relativeError(try backend.download(run.y), reference),
                        Validation.relativeError(try backend.download(run.dx), gradients.dx),
                        Validation.relativeError(try backend.download(run.dw), gradients.dw),
                        Validation.relativeError(try backend.download(run.db), gradients.db))
        try Validation.check("conv2d", "\(small)", error)
        let full = try Case(backend, s, x: generator.floats(s.inputCount), w: w, b: b, dy: generator.floats(s.outputCount))
        let forward = try Timing.measure(backend, minSeconds: context.minSeconds) { try full.forward() }
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try full.forwardAndBackward() }
        // Forward, weight gradient, input gradient: three products of the same size.
        return [Validation.row(context, "conv2d fwd", "\(s)", forward, flops: s.flops, error: error),
                Validation.row(context, "conv2d fwd+bwd", "\(s)", timing, flops: 3 * s.flops, error: error)]
    }

    /// The tensors of one convolution and its backward.
    struct Case {
        let backend: any Backend, s: Conv2dShape
        let x: Tensor, w: Tensor, b: Tensor, dy: Tensor, y: Tensor, columns: Tensor, dColumns: Tensor, dx: Tensor, dw: Tensor, db: Tensor

        init(_ backend: any Backend, _ s: Conv2dShape, x: [Float], w: [Float], b: [Float], dy: [Float]) throws {
            (self.backend, self.s) = (backend, s)
            self.x = try backend.upload(x, shape: s.inputShape)
            self.w = try backend.upload(w, shape: s.weightShape)
            self.b = try backend.upload(b, shape: [s.outputChannels])
            self.dy = try backend.upload(dy, shape: s.outputShape)
            y = try backend.makeTensor(s.outputShape)
            columns = try backend.makeTensor([s.columnCount])
            dColumns = try backend.makeTensor([s.columnCount])
            dx = try backend.makeTensor(s.inputShape)
            dw = try backend.makeTensor(s.weightShape)
            db = try backend.makeTensor([s.outputChannels])
        }

        func forward() throws {
            try backend.conv2d(x, weight: w, bias: b, into: y, columns: columns, s)
        }

        func forwardAndBackward() throws {
            try forward()
            try backend.conv2dBackward(dy, weight: w, columns: columns, dWeight: dw, dBias: db, dx: dx, dColumns: dColumns, s)
        }
    }
}
