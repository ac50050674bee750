import LDMEngine

/// CPC for one horizon k (docs/mathematics.md §4): the sphere model with a linear predictor, `q_i = W_k·c_i`, and the KDE over
/// the batch, as InfoNCE: `loss = mean_i [log Σ_j exp(⟨q̂_i, ẑ_j⟩/τ) − ⟨q̂_i, ẑ_i⟩/τ]` with q̂, ẑ unit rows.
///
/// Called with `z1 = c` (contexts, B × d_c) and `z2 = z` (the encodings k steps ahead, B × d_z); `predictor` is
/// W_k (d_z × d_c). `dz1`, `dz2` are the gradients for c and z, `parameterGradients["predictor"]` for W_k. Runs
/// on both backends; the B × B logits are never stored.
public struct CPC: Objective {
    public var predictor: Tensor
    public var temperature: Float

    public init(predictor: Tensor, temperature: Float = 0.1) {
        self.predictor = predictor
        self.temperature = temperature
    }

    public var name: String { "cpc" }

    public func evaluate(_ z1: Tensor, _ z2: Tensor, on backend: any Backend) throws -> ObjectiveResult {
        guard z1.shape.rank == 2, z2.shape.rank == 2, z1.shape.dims[0] == z2.shape.dims[0], z1.shape.dims[0] >= 2,
              predictor.shape == [z2.shape.dims[1], z1.shape.dims[1]] else {
            throw LDMError.shapeMismatch(operation: "cpc", detail: "need contexts B × d_c, targets B × d_z and a predictor "
                + "d_z × d_c; got \(z1.shape), \(z2.shape) and \(predictor.shape)")
        }
        try checkTemperature(temperature, "the temperature")
        let (rows, dc, dz) = (z1.shape.dims[0], z1.shape.dims[1], z2.shape.dims[1])
        let inverse = 1 / temperature

        let q = try backend.makeTensor([rows, dz])
        try backend.matmul(z1, predictor, into: q, MatmulShape(m: rows, n: dz, k: dc, transposeB: true))
        let qHat = try backend.makeTensor([rows, dz]), zHat = try backend.makeTensor([rows, dz])
        let qNorms = try backend.makeTensor([rows]), zNorms = try backend.makeTensor([rows])
        let shape = RowsShape(rows: rows, columns: dz)
        try backend.normalizeRows(q, into: qHat, norms: qNorms, shape)
        try backend.normalizeRows(z2, into: zHat, norms: zNorms, shape)

        let pairs = PairwiseLSEShape(rows: rows, columns: rows, dimension: dz, kernel: .dot, scale: inverse)
        let lse = try backend.makeTensor([rows])
        try backend.pairwiseLSE(qHat, zHat, into: lse, pairs)
        let meanLSE = try backend.total(lse) / Double(rows)
        let alignment = Double(inverse) * (try backend.dot(qHat, zHat)) / Double(rows)

        let g = try backend.makeTensor([rows])
        try backend.fill(g, with: 1 / Float(rows))
        let dqHat = try backend.makeTensor([rows, dz]), dzHat = try backend.makeTensor([rows, dz])
        try backend.pairwiseLSEBackward(qHat, zHat, lse, g, dx: dqHat, dy: dzHat, pairs)
        try backend.axpy(-inverse / Float(rows), zHat, dqHat)
        try backend.axpy(-inverse / Float(rows), qHat, dzHat)
        let dq = try backend.makeTensor([rows, dz]), dz2 = try backend.makeTensor([rows, dz])
        try backend.normalizeRowsBackward(qHat, qNorms, dqHat, into: dq, shape)
        try backend.normalizeRowsBackward(zHat, zNorms, dzHat, into: dz2, shape)

        // q = c·Wᵀ: ∂/∂c = dq·W, ∂/∂W = dqᵀ·c.
        let dContext = try backend.makeTensor(z1.shape), dw = try backend.makeTensor(predictor.shape)
        try backend.matmul(dq, predictor, into: dContext, MatmulShape(m: rows, n: dc, k: dz))
        try backend.matmul(dq, z1, into: dw, MatmulShape(m: dz, n: dc, k: rows, transposeA: true))
        return ObjectiveResult(value: ObjectiveValue(loss: meanLSE - alignment, alignment: alignment, entropy: -meanLSE),
                               dz1: dContext, dz2: dz2, parameterGradients: ["predictor": dw])
    }
}
