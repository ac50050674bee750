/// Argument checks of the checked entry points (`Backend+Kernels.swift`), so every backend refuses exactly the same
/// inputs with the same message; compositions of kernels (the objectives) use them too.
public enum KernelChecks {
    /// Throws unless all tensors have the same element count.
    public static func sameCount(_ operation: String, _ tensors: [(String, Tensor)]) throws {
        guard let first = tensors.first else { return }
        for (name, t) in tensors.dropFirst() where t.count != first.1.count {
            throw LDMError.shapeMismatch(
                operation: operation,
                detail: "\(name) has \(t.count) elements \(t.shape), \(first.0) has \(first.1.count) \(first.1.shape)")
        }
    }

    /// Throws unless `tensor` has exactly `expected` elements.
    public static func count(_ operation: String, _ name: String, _ tensor: Tensor, _ expected: Int) throws {
        guard tensor.count == expected else {
            throw LDMError.shapeMismatch(operation: operation,
                                         detail: "\(name) has \(tensor.count) elements \(tensor.shape), needs \(expected)")
        }
    }

    /// Validates a per-sample estimator's operands: `z` and its `gradient` both `count` elements, not aliased.
    public static func samples(_ operation: String, z: Tensor, gradient: Tensor, count expected: Int) throws {
        try count(operation, "z", z, expected)
        try count(operation, "gradient", gradient, expected)
        guard z.storage !== gradient.storage else {
            throw LDMError.invalidArgument("\(operation): gradient must not alias z")
        }
    }

    /// Validates the ICA terms' operands (x N × d, W d × d, gradients of the same sizes, α ≥ 0, β ≥ 1); returns (N, d).
    @discardableResult
    public static func ica(x: Tensor, w: Tensor, gradientX: Tensor, gradientW: Tensor, alpha: Float, beta: Float)
        throws -> (rows: Int, dimension: Int) {
        let op = "icaTerms"
        guard x.shape.rank == 2, w.shape.rank == 2, w.shape.dims[0] == w.shape.dims[1], w.shape.dims[1] == x.shape.dims[1],
              x.shape.dims[0] >= 1 else {
            throw LDMError.shapeMismatch(operation: op, detail: "need x N × d and W d × d, got \(x.shape) and \(w.shape)")
        }
        guard alpha.isFinite, alpha >= 0, beta.isFinite, beta >= 1 else {
            throw LDMError.invalidArgument("\(op): need α ≥ 0 and β ≥ 1, got α = \(alpha), β = \(beta)")
        }
        try count(op, "gradientX", gradientX, x.count)
        try count(op, "gradientW", gradientW, w.count)
        return (x.shape.dims[0], x.shape.dims[1])
    }

    /// Validates the Barlow Twins operands (two equal N × d views with N ≥ 2, gradients alike, finite λ); returns (N, d).
    @discardableResult
    public static func barlow(_ z1: Tensor, _ z2: Tensor, gradient1: Tensor, gradient2: Tensor, lambda: Float) throws
        -> (rows: Int, dimension: Int) {
        let op = "barlowTwins"
        guard z1.shape.rank == 2, z1.shape == z2.shape, z1.shape.dims[0] >= 2 else {
            throw LDMError.shapeMismatch(operation: op, detail: "views must be equal N × d with N ≥ 2, got \(z1.shape) and \(z2.shape)")
        }
        try sameCount(op, [("z1", z1), ("gradient1", gradient1), ("gradient2", gradient2)])
        try finite(op, "lambda", lambda)
        return (z1.shape.dims[0], z1.shape.dims[1])
    }

    /// Validates a ranged copy.
    public static func range(source: Tensor, _ sourceOffset: Int, destination: Tensor, _ destinationOffset: Int,
                             count: Int) throws {
        let op = "copy \(count) elements from offset \(sourceOffset) to offset \(destinationOffset)"
        guard count >= 0, sourceOffset >= 0, destinationOffset >= 0 else {
            throw LDMError.invalidArgument("\(op): offsets and count must be non-negative")
        }
        guard sourceOffset + count <= source.count else {
            throw LDMError.shapeMismatch(operation: op, detail: "source has \(source.count) elements")
        }
        guard destinationOffset + count <= destination.count else {
            throw LDMError.shapeMismatch(operation: op, detail: "destination has \(destination.count) elements")
        }
        if source.storage === destination.storage, count > 0,
           sourceOffset < destinationOffset + count, destinationOffset < sourceOffset + count {
            throw LDMError.invalidArgument("\(op): the ranges overlap")
        }
    }

    /// Throws unless `value` is finite.
    public static func finite(_ operation: String, _ name: String, _ value: Float) throws {
        guard value.isFinite else {
            throw LDMError.invalidArgument("\(operation): \(name) must be finite, got \(value)")
        }
    }

    /// Validates the operands of variance_features: x and y (or dy) are `rows × columns`, w `columns`, means `rows`.
    public static func varianceFeatures(_ operation: String, _ shape: RowsShape, x: Tensor, w: Tensor, rowsByColumns: Tensor,
                                        means: Tensor) throws {
        guard shape.rows >= 1, shape.columns >= 1 else {
            throw LDMError.shapeMismatch(operation: operation, detail: "need at least one row and one column, got \(shape)")
        }
        try count(operation, "x", x, shape.count)
        try count(operation, "w", w, shape.columns)
        try count(operation, "y", rowsByColumns, shape.count)
        try count(operation, "means", means, shape.rows)
    }

    /// Validates batch normalisation's operands: x and y (or dy, dx) are `rows × columns`, γ, β, μ, σ² are
    /// `columns`; training needs two rows, ε must be positive.
    public static func batchNorm(_ operation: String, _ shape: BatchNormShape, matrices: [(String, Tensor)],
                                 vectors: [(String, Tensor)]) throws {
        guard shape.columns >= 1, shape.rows >= (shape.training ? 2 : 1) else {
            throw LDMError.shapeMismatch(operation: operation, detail: "need at least \(shape.training ? 2 : 1) rows and one column, got \(shape)")
        }
        guard shape.epsilon.isFinite, shape.epsilon > 0 else {
            throw LDMError.invalidArgument("\(operation): ε must be positive, got \(shape.epsilon)")
        }
        for (name, tensor) in matrices { try count(operation, name, tensor, shape.count) }
        for (name, tensor) in vectors { try count(operation, name, tensor, shape.columns) }
    }

    /// Validates a `rows × columns` matrix and a per-column vector (a channel bias and its gradient).
    public static func rowsAndVector(_ operation: String, _ shape: RowsShape, matrix: (String, Tensor),
                                     vector: (String, Tensor)) throws {
        let (elements, overflow) = shape.rows.multipliedReportingOverflow(by: shape.columns)
        guard shape.rows >= 0, shape.columns >= 1, !overflow, elements <= Int(Int32.max) else {
            throw LDMError.shapeMismatch(operation: operation, detail: "extents must be non-negative (columns positive) and the matrix at most 2³¹ − 1 elements")
        }
        try count(operation, matrix.0, matrix.1, elements)
        try count(operation, vector.0, vector.1, shape.columns)
    }

    /// Validates a row reduction's operands.
    public static func rows(_ operation: String, _ shape: RowsShape, x: Tensor, out: Tensor) throws {
        guard shape.rows >= 0, shape.columns >= 0 else {
            throw LDMError.shapeMismatch(operation: operation, detail: "negative extent in \(shape)")
        }
        try count(operation, "x", x, shape.count)
        try count(operation, "out", out, shape.rows)
    }

    /// Validates the operands of a row reduction's backward: x and gx are `rows × columns`, y and gy `rows`.
    public static func rowsBackward(_ operation: String, _ shape: RowsShape, x: Tensor, y: Tensor, gy: Tensor,
                                    gx: Tensor) throws {
        try rows(operation, shape, x: x, out: y)
        try count(operation, "gy", gy, shape.rows)
        try count(operation, "gx", gx, shape.count)
    }

    /// Validates row normalisation's operands: `x`/`out` (or `g`/`dx`) are `rows × columns`, `norms` has `rows`.
    public static func normalize(_ operation: String, _ shape: RowsShape, matrices: [(String, Tensor)],
                                 norms: Tensor, output: Tensor) throws {
        guard shape.rows >= 0, shape.columns >= 0 else {
            throw LDMError.shapeMismatch(operation: operation, detail: "negative extent in \(shape)")
        }
        for (name, t) in matrices { try count(operation, name, t, shape.count) }
        try count(operation, "norms", norms, shape.rows)
        guard !matrices.contains(where: { $0.1 !== output && $0.1.storage === output.storage }),
              norms.storage !== output.storage else {
            throw LDMError.invalidArgument("\(operation): the output must not alias an input")
        }
    }

    /// Validates a row softmax's operands: every matrix is `rows × columns`, the scale finite and positive, and the
    /// output aliases no input.
    public static func softmax(_ operation: String, _ shape: RowsShape, scale: Float, inputs: [(String, Tensor)],
                               output: (String, Tensor)) throws {
        guard shape.rows >= 0, shape.columns >= 1 else {
            throw LDMError.shapeMismatch(operation: operation, detail: "need at least one column, got \(shape)")
        }
        guard scale.isFinite, scale > 0 else {
            throw LDMError.invalidArgument("\(operation): the scale (inverse temperature) must be positive and finite, got \(scale)")
        }
        for (name, t) in inputs + [output] { try count(operation, name, t, shape.count) }
        if let (name, _) = inputs.first(where: { $0.1.storage === output.1.storage }) {
            throw LDMError.invalidArgument("\(operation): \(output.0) must not alias \(name)")
        }
    }

    /// Validates a strided copy: non-negative extents and strides, every run inside its tensor, destination runs
    /// that cannot overlap (rows at least `width` apart, blocks past their last row), and no aliasing.
    public static func stridedCopy(_ operation: String, _ shape: StridedCopyShape, source: Tensor, destination: Tensor) throws {
        let (s, d) = (shape.source, shape.destination)
        guard shape.blocks >= 0, shape.rows >= 0, shape.width >= 0,
              [s.offset, s.blockStride, s.rowStride, d.offset, d.blockStride, d.rowStride].allSatisfy({ $0 >= 0 }) else {
            throw LDMError.shapeMismatch(operation: operation, detail: "extents, offsets and strides must be non-negative")
        }
        guard shape.count > 0 else { return }
        guard shape.rows == 1 || d.rowStride >= shape.width,
              shape.blocks == 1 || d.blockStride >= (shape.rows - 1) * d.rowStride + shape.width else {
            throw LDMError.invalidArgument("\(operation): destination runs overlap (row stride \(d.rowStride), block stride "
                + "\(d.blockStride) for \(shape.rows) rows of \(shape.width))")
        }
        for (name, tensor, layout) in [("source", source, s), ("destination", destination, d)] where shape.extent(layout) > tensor.count {
            throw LDMError.shapeMismatch(operation: operation, detail: "the \(name) runs reach index \(shape.extent(layout) - 1) "
                + "but \(name) has \(tensor.count) elements \(tensor.shape)")
        }
        guard source.storage !== destination.storage else {
            throw LDMError.invalidArgument("\(operation): the destination must not alias the source")
        }
    }

    /// Validates a batched transpose's operands.
    public static func transpose(_ shape: TransposeShape, x: Tensor, out: Tensor) throws {
        let op = "transpose \(shape)"
        guard shape.batch >= 0, shape.rows >= 0, shape.columns >= 0 else {
            throw LDMError.shapeMismatch(operation: op, detail: "negative extent")
        }
        try count(op, "x", x, shape.count)
        try count(op, "out", out, shape.count)
        guard x.storage !== out.storage || shape.count == 0 else {
            throw LDMError.invalidArgument("\(op): out must not alias x")
        }
    }

    /// The categorical plug-in entropy's operands: z1 [B, K] with its gradient, and z2 (same shape, with a
    /// gradient) when the joint is asked for. Returns (B, K) and, for the joint, z2 with its gradient.
    @discardableResult
    public static func categorical(_ z1: Tensor, _ z2: Tensor?, gradient1: Tensor, gradient2: Tensor?) throws
        -> (b: Int, k: Int, joint: (z2: Tensor, gradient2: Tensor)?) {
        let op = "categoricalEntropy"
        guard z1.shape.rank == 2, z1.shape.dims[0] >= 1 else {
            throw LDMError.shapeMismatch(operation: op, detail: "z1 must be B × K, got \(z1.shape)")
        }
        let (b, k) = (z1.shape.dims[0], z1.shape.dims[1])
        try count(op, "gradient1", gradient1, b * k)
        if let z2 {
            guard z2.shape == z1.shape, let gradient2 else {
                throw LDMError.shapeMismatch(operation: op, detail: "z2 must be \(z1.shape) with a gradient2, got \(z2.shape)")
            }
            try count(op, "gradient2", gradient2, b * k)
            return (b, k, (z2, gradient2))
        }
        return (b, k, nil)
    }
}

extension KernelChecks {
    /// Validates an affine scan's operands: extents, sizes (checked products), and that x aliases none of its inputs.
    public static func affineScan(_ shape: AffineScanShape, u: Tensor, transitions: Tensor, initial: Tensor?, x: Tensor) throws {
        let op = "affineScan \(shape)"
        guard shape.steps >= 1, shape.batch >= 1, shape.n >= 1, shape.chunks >= 0 else {
            throw LDMError.shapeMismatch(operation: op, detail: "steps, batch and n must be at least 1 and chunks non-negative")
        }
        guard shape.groups >= 1, shape.batch % shape.groups == 0 else {
            throw LDMError.shapeMismatch(operation: op, detail: "groups must be at least 1 and divide the batch \(shape.batch)")
        }
        let (rows, rowsOverflow) = shape.steps.multipliedReportingOverflow(by: shape.batch)
        let (states, statesOverflow) = rows.multipliedReportingOverflow(by: shape.n)
        let (square, squareOverflow) = shape.n.multipliedReportingOverflow(by: shape.n)
        let (perStep, perStepOverflow) = square.multipliedReportingOverflow(by: shape.groups)
        let (matrices, matricesOverflow) = perStep.multipliedReportingOverflow(by: shape.steps)
        guard !rowsOverflow, !statesOverflow, !squareOverflow, !perStepOverflow, !matricesOverflow else {
            throw LDMError.shapeMismatch(operation: op, detail: "the sizes overflow")
        }
        try count(op, "u", u, states)
        try count(op, "x", x, states)
        try count(op, "transitions", transitions, matrices)
        if let initial { try count(op, "initial", initial, shape.batch * shape.n) }
        for (name, input) in [("u", u), ("transitions", transitions)] + (initial.map { [("initial", $0)] } ?? [])
        where input.storage === x.storage {
            throw LDMError.invalidArgument("\(op): x must not alias \(name)")
        }
    }
}
