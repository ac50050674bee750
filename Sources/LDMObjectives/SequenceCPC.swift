import LDMEngine

/// CPC over a batch of encoded sequences z [B, T, d] (docs/mathematics.md §4): the context of step t is the window of the last
/// m encodings `c_t = [z_{t−m+1}, …, z_t]` (a linear autoregressive aggregator, folded into the predictors), and
/// for each horizon k = 1…K the ``CPC`` InfoNCE term scores `W_k·c_t` against `z_{t+k}` among every (sequence,
/// step) target of the batch. The loss is the mean over horizons.
///
/// The windows and targets are gathered on the backend by strided copies (no host round trip), and their
/// gradients scattered back onto z the same way, one window position at a time so no two writes meet.
///
/// ```swift
/// let cpc = try SequenceCPC(predictors: [w1, w2, w3], contextSteps: 2, temperature: 0.1)
/// let result = try cpc.evaluate(z, sequences: 8, steps: 100, on: backend)   // z: [8·100, d]
/// // result.loss, result.dz [8·100, d], result.predictorGradients[k − 1] for W_k [d, m·d]
/// ```
public struct SequenceCPC: Sendable {
    /// W_1…W_K, each d × m·d.
    public var predictors: [Tensor]
    /// m, the encodings per context window.
    public var contextSteps: Int
    public var temperature: Float

    public init(predictors: [Tensor], contextSteps: Int, temperature: Float = 0.1) throws {
        guard !predictors.isEmpty, contextSteps >= 1, let first = predictors.first, first.shape.rank == 2,
              first.shape.dims[1] == contextSteps * first.shape.dims[0], predictors.allSatisfy({ $0.shape == first.shape }) else {
            throw LDMError.shapeMismatch(operation: "SequenceCPC", detail: "need K ≥ 1 predictors of d × m·d (m = \(contextSteps)); got "
                + predictors.map { "\($0.shape)" }.joined(separator: ", "))
        }
        try checkTemperature(temperature, "SequenceCPC: the temperature")
        self.predictors = predictors
        self.contextSteps = contextSteps
        self.temperature = temperature
    }

    public struct Result {
        public var loss: Double
        /// ∂loss/∂z [B·T, d].
        public var dz: Tensor
        /// ∂loss/∂W_k, in the predictors' order.
        public var predictorGradients: [Tensor]
        /// Each horizon's InfoNCE loss.
        public var horizonLosses: [Double]
    }

    public func evaluate(_ z: Tensor, sequences b: Int, steps t: Int, on backend: any Backend) throws -> Result {
        let m = contextSteps, horizons = predictors.count, d = predictors[0].shape.dims[0]
        guard z.count == b * t * d, b >= 1 else {
            throw LDMError.shapeMismatch(operation: "SequenceCPC", detail: "z has \(z.count) values \(z.shape), expected \(b) × \(t) × \(d)")
        }
        guard b * (t - m - horizons + 1) >= 2 else {
            throw LDMError.shapeMismatch(operation: "SequenceCPC", detail: "\(b) sequences of \(t) steps leave fewer than two "
                + "(context, target) pairs at horizon \(horizons) with windows of \(m)")
        }
        let dz = try backend.makeTensor([b * t, d])
        try backend.fill(dz, with: 0)
        let sequenceLayout = { (offset: Int) in StridedLayout(offset: offset, blockStride: t * d, rowStride: d) }
        var losses = [Double](), gradients = [Tensor]()
        for (index, predictor) in predictors.enumerated() {
            let k = index + 1, rows = t - m - k + 1, pairs = b * rows
            // Context (s, r) is the window z[s, r … r + m − 1]; its target is z[s, r + m − 1 + k].
            let windows = StridedCopyShape(blocks: b, rows: rows, width: m * d, source: sequenceLayout(0),
                                           destination: StridedLayout(blockStride: rows * m * d, rowStride: m * d))
            let targetsShape = StridedCopyShape(blocks: b, rows: rows, width: d, source: sequenceLayout((m - 1 + k) * d),
                                                destination: StridedLayout(blockStride: rows * d, rowStride: d))
            let contexts = try backend.makeTensor([pairs, m * d]), targets = try backend.makeTensor([pairs, d])
            try backend.stridedCopy(z, into: contexts, windows)
            try backend.stridedCopy(z, into: targets, targetsShape)
            let result = try CPC(predictor: predictor, temperature: temperature).evaluate(contexts, targets, on: backend)
            losses.append(result.value.loss)
            // Scatter back: the targets in one call, the windows one position j at a time (windows overlap in z).
            try backend.stridedCopy(result.dz2, into: dz, StridedCopyShape(blocks: b, rows: rows, width: d, source: targetsShape.destination,
                                                                           destination: targetsShape.source, accumulate: true))
            for j in 0..<m {
                try backend.stridedCopy(result.dz1, into: dz, StridedCopyShape(
                    blocks: b, rows: rows, width: d, source: StridedLayout(offset: j * d, blockStride: rows * m * d, rowStride: m * d),
                    destination: sequenceLayout(j * d), accumulate: true))
            }
            guard let dw = result.parameterGradients["predictor"] else {
                throw LDMError.invalidArgument("SequenceCPC: the CPC objective returned no predictor gradient")
            }
            try backend.scale(dw, by: 1 / Float(horizons), into: dw)
            gradients.append(dw)
        }
        try backend.scale(dz, by: 1 / Float(horizons), into: dz)
        return Result(loss: losses.reduce(0, +) / Double(horizons), dz: dz, predictorGradients: gradients, horizonLosses: losses)
    }
}
