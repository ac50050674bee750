import LDMEngine
import LDMReference

/// conv2d.cl: forward and backward (input, weight and bias gradients) of the reference encoder's three
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
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try full.forwardAndBackward() }
        // Forward, weight gradient, input gradient: three products of the same size.
        return [Validation.row(context, "conv2d fwd+bwd", "\(s)", timing, flops: 3 * s.flops, error: error)]
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

        func forwardAndBackward() throws {
            try backend.conv2d(x, weight: w, bias: b, into: y, columns: columns, s)
            try backend.conv2dBackward(dy, weight: w, columns: columns, dWeight: dw, dBias: db, dx: dx, dColumns: dColumns, s)
        }
    }
}

/// pool.cl: 3 × 3 max and average pooling at stride 2 (padding 1) and global average pooling of a 512 × 14 × 14 × 64
/// activation, forward + backward, GB/s; validated on the whole arrays against the Double definitions (the
/// backwards by the same functional's central differences on a 2-image slice).
public enum PoolBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x9001)
        var rows: [BenchmarkRow] = []
        for kind in PoolKind.allCases {
            let s = PoolShape(batch: 512, height: 14, width: 14, channels: 64, window: 3, stride: 2, padding: 1, kind: kind)
            let host = generator.floats(s.inputCount)
            let x = try backend.upload(host, shape: s.inputShape), y = try backend.makeTensor(s.outputShape)
            let dy = try backend.upload(generator.floats(s.outputCount), shape: s.outputShape), dx = try backend.makeTensor(s.inputShape)
            try backend.pool(x, into: y, s)
            let error = Validation.relativeError(try backend.download(y), Reference.pool(host.map(Double.init), s))
            try Validation.check("pool.\(kind)", "\(s)", error)
            let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
                try backend.pool(x, into: y, s)
                try backend.poolBackward(x, dy, into: dx, s)
            }
            // x read by both directions (max re-reads it in the backward), y and dy once, dx written.
            rows.append(Validation.row(context, "pool.\(kind) fwd+bwd", "\(s)", timing,
                                       bytes: 4.0 * Double(3 * s.inputCount + 2 * s.outputCount), error: error))
        }
        let g = GlobalPoolShape(batch: 512, positions: 49, channels: 128)
        let host = generator.floats(g.inputCount)
        let x = try backend.upload(host, shape: [g.inputCount]), y = try backend.makeTensor([g.outputCount])
        let dx = try backend.makeTensor([g.inputCount])
        try backend.globalAveragePool(x, into: y, g)
        let error = Validation.relativeError(try backend.download(y), Reference.globalAveragePool(host.map(Double.init), g))
        try Validation.check("global_average_pool", "\(g)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.globalAveragePool(x, into: y, g)
            try backend.globalAveragePoolBackward(y, into: dx, g)
        }
        rows.append(Validation.row(context, "global_average_pool fwd+bwd", "\(g)", timing,
                                   bytes: 4.0 * Double(2 * g.inputCount + 2 * g.outputCount), error: error))
        return rows
    }
}

/// augment.cl and gather.cl: two views of a batch of 256 28 × 28 images gathered from 60 000 (crop, flip, jitter,
/// noise), GB/s of the views written; the views validated against the Double definition, the gathered rows exactly.
public enum AugmentBenchmark {
    public static func run(_ context: BenchmarkContext) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0xa06)
        let (rows, size, batch) = (60_000, 28 * 28, 256)
        let table = (0..<(rows * size)).map { _ in Float(generator.uniform()) }
        let indices = (0..<batch).map { _ in Float(Int(generator.uniform() * Double(rows))) }
        var s = AugmentShape(batch: batch, height: 28, width: 28, channels: 1)
        (s.brightness, s.contrast, s.noise, s.seed) = (0.4, 0.4, 0.05, 7)
        let tTable = try backend.upload(table, shape: [rows, 28, 28, 1]), tIndices = try backend.upload(indices, shape: [batch])
        let images = try backend.makeTensor([batch, 28, 28, 1]), parameters = try backend.makeTensor(s.parameterShape)
        let views = try backend.makeTensor(s.outputShape)
        let gather = GatherShape(rows: rows, columns: size, count: batch)
        try backend.gatherRows(tTable, indices: tIndices, into: images, gather)
        try backend.augment(images, parameters: parameters, into: views, s)
        let gathered = try backend.download(images)
        let expectedRows = indices.flatMap { i in table[(Int(i) * size)..<((Int(i) + 1) * size)] }
        guard gathered == expectedRows else { throw ValidationFailure(kernel: "gather_rows", shape: "\(gather)", error: 1, tolerance: 0) }
        let error = Validation.relativeError(try backend.download(views), Reference.augment(gathered.map(Double.init), s).views)
        try Validation.check("augment", "\(s)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            try backend.gatherRows(tTable, indices: tIndices, into: images, gather)
            s.counter += 1
            try backend.augment(images, parameters: parameters, into: views, s)
        }
        // The gathered batch read and written, read again by the views and the parameters' means, the views written.
        return [Validation.row(context, "gather+augment", "\(s)", timing, bytes: 4.0 * Double(4 * batch * size + s.outputCount),
                               error: error)]
    }
}
