import Foundation

/// Shapes of the kernels in the `Backend` protocol: one small struct per kernel family, validated in one
/// place before any backend launches anything.

/// `C[b] = α · op(A[b]) · op(B[b]) + β · C[b]` for `b` in `0..<batch`, all row-major.
///
/// `op(A)` is `m × k`, so `A` is stored `m × k`, or `k × m` when `transposeA`; `op(B)` is `k × n`, so `B` is
/// stored `k × n`, or `n × k` when `transposeB`; `C` is `m × n`. Batch `b` of each operand starts `b · stride`
/// elements in; a stride of 0 shares one operand across the batch (not allowed for `C`).
///
/// ```swift
/// let shape = MatmulShape(m: 64, n: 32, k: 128, transposeB: true)   // C = A · Bᵀ
/// try backend.matmul(a, b, into: c, shape)
/// ```
public struct MatmulShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var m: Int
    public var n: Int
    public var k: Int
    public var transposeA: Bool
    public var transposeB: Bool
    public var alpha: Float
    public var beta: Float
    public var strideA: Int
    public var strideB: Int
    public var strideC: Int

    /// A (batched) product with packed batches unless strides are given.
    public init(batch: Int = 1, m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
                alpha: Float = 1, beta: Float = 0,
                strideA: Int? = nil, strideB: Int? = nil, strideC: Int? = nil) {
        self.batch = batch
        self.m = m
        self.n = n
        self.k = k
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.alpha = alpha
        self.beta = beta
        self.strideA = strideA ?? m * k
        self.strideB = strideB ?? k * n
        self.strideC = strideC ?? m * n
    }

    /// Leading dimension (row length) of A, B and C as stored.
    public var lda: Int { transposeA ? m : k }
    public var ldb: Int { transposeB ? k : n }
    public var ldc: Int { n }

    /// Elements each operand must hold at least.
    public var requiredA: Int { batch == 0 ? 0 : (batch - 1) * strideA + m * k }
    public var requiredB: Int { batch == 0 ? 0 : (batch - 1) * strideB + k * n }
    public var requiredC: Int { batch == 0 ? 0 : (batch - 1) * strideC + m * n }

    /// Floating-point operations of one call (a multiply-add counts 2).
    public var flops: Double { 2 * Double(batch) * Double(m) * Double(n) * Double(k) }

    public var description: String {
        let ops = (transposeA ? "T" : "N") + (transposeB ? "T" : "N")
        return batch == 1 ? "\(m)x\(n)x\(k) \(ops)" : "\(batch)x(\(m)x\(n)x\(k)) \(ops)"
    }

    /// Throws `LDMError.shapeMismatch` naming the operand that does not fit.
    public func validate(a: Int, b: Int, c: Int) throws {
        let op = "matmul \(self)"
        guard batch >= 0, m >= 0, n >= 0, k >= 0 else {
            throw LDMError.shapeMismatch(operation: op, detail: "sizes must be non-negative")
        }
        guard strideA >= 0, strideB >= 0, strideC >= 0 else {
            throw LDMError.shapeMismatch(operation: op, detail: "strides must be non-negative")
        }
        guard batch <= 1 || strideC >= m * n else {
            throw LDMError.shapeMismatch(operation: op,
                                         detail: "strideC \(strideC) < m·n = \(m * n): batches of C would overlap")
        }
        guard alpha.isFinite, beta.isFinite else {
            throw LDMError.invalidArgument("\(op): alpha and beta must be finite (got \(alpha), \(beta))")
        }
        if a < requiredA {
            throw LDMError.shapeMismatch(operation: op, detail: "A holds \(a) elements, needs \(requiredA)")
        }
        if b < requiredB {
            throw LDMError.shapeMismatch(operation: op, detail: "B holds \(b) elements, needs \(requiredB)")
        }
        if c < requiredC {
            throw LDMError.shapeMismatch(operation: op, detail: "C holds \(c) elements, needs \(requiredC)")
        }
    }
}

/// A row-major `rows × columns` matrix, the layout of row-wise reductions.
public struct RowsShape: Hashable, Sendable, CustomStringConvertible {
    public var rows: Int
    public var columns: Int

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
    }

    public var count: Int { rows * columns }
    public var description: String { "\(rows)x\(columns)" }
}

/// The reductions along each row of a matrix.
public enum RowReduction: String, CaseIterable, Hashable, Sendable {
    /// `y_i = max_j x_ij` (−∞ for an empty row).
    case max
    /// `y_i = Σ_j x_ij`.
    case sum
    /// `y_i = sqrt(Σ_j x_ij²)`, computed with a scaled sum so it neither overflows nor underflows.
    case norm
}

/// Batch normalisation of an N × C matrix over its rows: ε and whether the batch statistics are computed
/// (training) or the given running statistics are used (evaluation).
public struct BatchNormShape: Hashable, Sendable, CustomStringConvertible {
    public var rows: Int
    public var columns: Int
    public var epsilon: Float
    public var training: Bool

    public init(rows: Int, columns: Int, epsilon: Float = 1e-5, training: Bool = true) {
        self.rows = rows
        self.columns = columns
        self.epsilon = epsilon
        self.training = training
    }

    public var count: Int { rows * columns }
    public var description: String { "\(rows)x\(columns)\(training ? "" : " eval")" }
}

/// `out[b] = in[b]ᵀ` for a batch of row-major `rows × columns` matrices; `out[b]` is `columns × rows`.
public struct TransposeShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var rows: Int
    public var columns: Int

    public init(batch: Int = 1, rows: Int, columns: Int) {
        self.batch = batch
        self.rows = rows
        self.columns = columns
    }

    public var count: Int { batch * rows * columns }
    public var description: String { batch == 1 ? "\(rows)x\(columns)" : "\(batch)x(\(rows)x\(columns))" }
}

/// The pairwise similarity of the fused log-sum-exp (the KDE / InfoNCE estimators).
public enum PairwiseKernel: String, CaseIterable, Hashable, Sendable {
    /// `s_ij = scale·⟨x_i, y_j⟩` (von Mises–Fisher on normalised rows; InfoNCE logits with scale = 1/τ).
    case dot
    /// `s_ij = −scale·‖x_i − y_j‖²` (Gaussian kernel; the mathematics' κ/d is the scale).
    case squaredDistance
}

/// `lse_i = log Σ_j exp(s_ij)` for rows x_i (`rows × dimension`) against rows y_j (`columns × dimension`),
/// leaving out j = i when `excludeDiagonal` (x and y the same set, leave-one-out). Computed in tiles with a
/// running maximum: the `rows × columns` matrix is never stored.
public struct PairwiseLSEShape: Hashable, Sendable, CustomStringConvertible {
    public var rows: Int
    public var columns: Int
    public var dimension: Int
    public var kernel: PairwiseKernel
    public var scale: Float
    public var excludeDiagonal: Bool

    public init(rows: Int, columns: Int, dimension: Int, kernel: PairwiseKernel, scale: Float,
                excludeDiagonal: Bool = false) {
        self.rows = rows
        self.columns = columns
        self.dimension = dimension
        self.kernel = kernel
        self.scale = scale
        self.excludeDiagonal = excludeDiagonal
    }

    /// Multiply-adds of one pass over all pairs, counted as 2 FLOPs each.
    public var pairFlops: Double { 2 * Double(rows) * Double(columns) * Double(dimension) }

    public var description: String {
        "\(rows)x\(columns)x\(dimension) \(kernel.rawValue) scale \(scale)" + (excludeDiagonal ? " loo" : "")
    }

    /// Throws unless sizes, scale and operand element counts fit.
    public func validate(x: Tensor, y: Tensor, lse: Tensor) throws {
        let op = "pairwiseLSE \(self)"
        guard rows >= 0, columns >= 0, dimension >= 0 else {
            throw LDMError.shapeMismatch(operation: op, detail: "sizes must be non-negative")
        }
        guard scale.isFinite, scale > 0 else {
            throw LDMError.invalidArgument("\(op): scale (precision or 1/temperature) must be positive and finite, got \(scale)")
        }
        guard !excludeDiagonal || rows <= columns else {
            throw LDMError.shapeMismatch(operation: op, detail: "leaving out the diagonal (column i of row i) needs rows ≤ columns")
        }
        try KernelChecks.count(op, "x", x, rows * dimension)
        try KernelChecks.count(op, "y", y, columns * dimension)
        try KernelChecks.count(op, "lse", lse, rows)
        guard lse.storage !== x.storage, lse.storage !== y.storage else {
            throw LDMError.invalidArgument("\(op): lse must not alias x or y")
        }
    }

    /// Throws unless the one-set backward's operands fit (rows = columns) and dz aliases no input.
    public func validateSelfBackward(z: Tensor, lse: Tensor, g: Tensor, dz: Tensor) throws {
        try validate(x: z, y: z, lse: lse)
        let op = "pairwiseLSESelfBackward \(self)"
        guard rows == columns else { throw LDMError.shapeMismatch(operation: op, detail: "one set needs rows == columns") }
        try KernelChecks.count(op, "g", g, rows)
        try KernelChecks.count(op, "dz", dz, rows * dimension)
        guard ![z.storage, lse.storage, g.storage].contains(where: { $0 === dz.storage }) else {
            throw LDMError.invalidArgument("\(op): dz must alias no input")
        }
    }

    /// Throws unless the backward's operands fit and the outputs alias neither each other nor the inputs.
    public func validateBackward(x: Tensor, y: Tensor, lse: Tensor, g: Tensor, dx: Tensor, dy: Tensor) throws {
        try validate(x: x, y: y, lse: lse)
        let op = "pairwiseLSEBackward \(self)"
        try KernelChecks.count(op, "g", g, rows)
        try KernelChecks.count(op, "dx", dx, rows * dimension)
        try KernelChecks.count(op, "dy", dy, columns * dimension)
        let inputs = [x.storage, y.storage, lse.storage, g.storage]
        guard dx.storage !== dy.storage, !inputs.contains(where: { $0 === dx.storage || $0 === dy.storage }) else {
            throw LDMError.invalidArgument("\(op): dx and dy must be distinct tensors that alias no input")
        }
    }
}

/// The Gaussian log-determinant entropy `½·log det(Cov(z) + εI)` of `rows × dimension` samples (docs/mathematics.md §3.3),
/// covariance with the mean removed and divided by rows − 1.
public struct LogDetShape: Hashable, Sendable, CustomStringConvertible {
    public var rows: Int
    public var dimension: Int
    public var epsilon: Float

    public init(rows: Int, dimension: Int, epsilon: Float = 1e-8) {
        self.rows = rows
        self.dimension = dimension
        self.epsilon = epsilon
    }

    public var description: String { "\(rows)x\(dimension) eps \(epsilon)" }

    /// Throws unless there are at least two samples, the count matches and ε is finite and non-negative.
    public func validate(z: Tensor, gradient: Tensor) throws {
        let op = "gaussianLogDet \(self)"
        guard rows >= 2, dimension >= 1 else {
            throw LDMError.shapeMismatch(operation: op, detail: "need at least 2 rows and 1 column")
        }
        guard epsilon.isFinite, epsilon >= 0 else {
            throw LDMError.invalidArgument("\(op): epsilon must be finite and non-negative, got \(epsilon)")
        }
        try KernelChecks.samples(op, z: z, gradient: gradient, count: rows * dimension)
    }
}

/// What the log-det estimator found: the value and the jitter added to the diagonal (0 when none was needed).
public struct LogDetResult: Sendable, Equatable {
    public var value: Double
    public var jitter: Float

    public init(value: Double, jitter: Float) {
        self.value = value
        self.jitter = jitter
    }
}

/// The Kozachenko–Leonenko kNN entropy `c·mean_i log(clip(ρ_i) + 1e-8)` of `rows × dimension` samples
/// (docs/mathematics.md §3.2): ρ_i is the distance from row i to its k-th nearest other row, clipped to [0, q] with q the
/// detached `quantile` (0.9) of all ρ_i; clipped rows get no gradient.
public struct KNNShape: Hashable, Sendable, CustomStringConvertible {
    public var rows: Int
    public var dimension: Int
    public var k: Int
    /// c: 1 (image experiments) or d (the proper Kozachenko–Leonenko scaling).
    public var scale: Float
    public var quantile: Float

    public init(rows: Int, dimension: Int, k: Int = 3, scale: Float = 1, quantile: Float = 0.9) {
        self.rows = rows
        self.dimension = dimension
        self.k = k
        self.scale = scale
        self.quantile = quantile
    }

    public var description: String { "\(rows)x\(dimension) k \(k) scale \(scale)" }

    /// The detached cap (the `quantile` of ρ with linear interpolation, as `torch.quantile`) and the estimate
    /// `c·mean_i log(min(max(ρ_i, 0), cap) + 1e-8)`, from the k-th-neighbour distances ρ. Both backends finish here.
    public func capAndValue(_ rho: [Double]) -> (cap: Float, value: Double) {
        let sorted = rho.sorted()
        let position = Double(quantile) * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = Swift.min(low + 1, sorted.count - 1)
        let cap = sorted[low] + (position - Double(low)) * (sorted[high] - sorted[low])
        let total = rho.reduce(0.0) { $0 + Foundation.log(Swift.min(Swift.max($1, 0), cap) + 1e-8) }
        return (Float(cap), Double(scale) * total / Double(rho.count))
    }

    public func validate(z: Tensor, gradient: Tensor) throws {
        let op = "knnEntropy \(self)"
        guard k >= 1, rows > k, dimension >= 1 else {
            throw LDMError.shapeMismatch(operation: op, detail: "need k ≥ 1 and more than k rows (k-th nearest other row)")
        }
        guard scale.isFinite, scale > 0, quantile > 0, quantile <= 1 else {
            throw LDMError.invalidArgument("\(op): scale must be positive and the quantile in (0, 1]")
        }
        try KernelChecks.samples(op, z: z, gradient: gradient, count: rows * dimension)
    }
}

/// What the kNN estimator found: the value and the (detached) clipping cap it used.
public struct KNNResult: Sendable, Equatable {
    public var value: Double
    public var cap: Float

    public init(value: Double, cap: Float) {
        self.value = value
        self.cap = cap
    }
}

/// Surrogates of the entropy computed from the sample covariance C (mean removed, divided by rows − 1) of
/// `rows × dimension` samples (docs/mathematics.md §3.4–3.5).
public struct CovarianceSurrogateShape: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// VICReg's penalty `varianceWeight·(1/d)·Σ_k ReLU(1 − sqrt(C_kk + 1e-4)) +
        /// covarianceWeight·(1/d)·Σ_{k≠l} C_kl²` (to be minimised).
        case vicreg(varianceWeight: Float, covarianceWeight: Float)
        /// The Taylor (correlation) surrogate of log det, `(Σ_k log C_kk − ½·Σ_{k≠l} (C_kl²/(C_kk·C_ll))²)/d`,
        /// the reference code's definition (to be maximised).
        case taylor
    }

    public var rows: Int
    public var dimension: Int
    public var kind: Kind

    public init(rows: Int, dimension: Int, kind: Kind) {
        self.rows = rows
        self.dimension = dimension
        self.kind = kind
    }

    public var description: String { "\(rows)x\(dimension) \(kind)" }

    public func validate(z: Tensor, gradient: Tensor) throws {
        let op = "covarianceSurrogate \(self)"
        guard rows >= 2, dimension >= 1 else {
            throw LDMError.shapeMismatch(operation: op, detail: "need at least 2 rows and 1 column")
        }
        if case let .vicreg(v, c) = kind, !(v.isFinite && c.isFinite && v >= 0 && c >= 0) {
            throw LDMError.invalidArgument("\(op): weights must be finite and non-negative")
        }
        try KernelChecks.samples(op, z: z, gradient: gradient, count: rows * dimension)
    }
}

/// A batch of `n × n` symmetric positive definite matrices to factor as `A = L·Lᵀ` (docs/mathematics.md §9: jitter
/// `1e-6·mean(diag)`, ×10, up to five tries, when a factorisation fails).
public struct CholeskyShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var n: Int

    public init(batch: Int = 1, n: Int) {
        self.batch = batch
        self.n = n
    }

    public var description: String { batch == 1 ? "\(n)x\(n)" : "\(batch)x(\(n)x\(n))" }

    public func validate(a: Tensor, factor: Tensor) throws {
        let op = "cholesky \(self)"
        guard batch >= 1, n >= 1 else { throw LDMError.shapeMismatch(operation: op, detail: "need batch ≥ 1 and n ≥ 1") }
        try KernelChecks.count(op, "a", a, batch * n * n)
        try KernelChecks.count(op, "factor", factor, batch * n * n)
        guard a.storage !== factor.storage else { throw LDMError.invalidArgument("\(op): factor must not alias a") }
    }
}

/// `B ← α·B·op(L)⁻¹` (right) or `B ← α·op(L)⁻¹·B` (left) for a lower-triangular `n × n` factor L; B is
/// `rows × columns` (n = columns on the right, n = rows on the left); op(L) = Lᵀ when `transposed`.
public struct TriangularSolveShape: Hashable, Sendable, CustomStringConvertible {
    public var rows: Int
    public var columns: Int
    public var left: Bool
    public var transposed: Bool
    public var alpha: Float

    public init(rows: Int, columns: Int, left: Bool, transposed: Bool, alpha: Float = 1) {
        self.rows = rows
        self.columns = columns
        self.left = left
        self.transposed = transposed
        self.alpha = alpha
    }

    public var n: Int { left ? rows : columns }
    public var description: String { "\(rows)x\(columns) \(left ? "left" : "right")\(transposed ? " T" : "")" }

    public func validate(factor: Tensor, b: Tensor) throws {
        let op = "triangularSolve \(self)"
        guard rows >= 1, columns >= 1 else { throw LDMError.shapeMismatch(operation: op, detail: "need non-empty B") }
        try KernelChecks.finite(op, "alpha", alpha)
        try KernelChecks.count(op, "factor", factor, n * n)
        try KernelChecks.count(op, "b", b, rows * columns)
        guard factor.storage !== b.storage else { throw LDMError.invalidArgument("\(op): b must not alias the factor") }
    }
}

/// Where the runs of a strided copy sit in a flat tensor: run (b, r) starts at
/// `offset + b·blockStride + r·rowStride`.
public struct StridedLayout: Hashable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var blockStride: Int
    public var rowStride: Int

    public init(offset: Int = 0, blockStride: Int, rowStride: Int) {
        self.offset = offset
        self.blockStride = blockStride
        self.rowStride = rowStride
    }

    public var description: String { "+\(offset) [\(blockStride), \(rowStride)]" }
}

/// A copy of `blocks × rows` runs of `width` contiguous floats from one strided layout to another, written or
/// added (``accumulate``). Sliding windows over a sequence are source runs that overlap; destination runs must not.
///
/// ```swift
/// // Windows of m = 2 frames from z [B, T, d]: row (b, t) of the contexts is z[b, t], z[b, t + 1].
/// StridedCopyShape(blocks: B, rows: T - 1, width: 2 * d,
///                  source: StridedLayout(blockStride: T * d, rowStride: d),
///                  destination: StridedLayout(blockStride: (T - 1) * 2 * d, rowStride: 2 * d))
/// ```
public struct StridedCopyShape: Hashable, Sendable, CustomStringConvertible {
    public var blocks: Int
    public var rows: Int
    public var width: Int
    public var source: StridedLayout
    public var destination: StridedLayout
    /// Add into the destination instead of overwriting it.
    public var accumulate: Bool

    public init(blocks: Int, rows: Int, width: Int, source: StridedLayout, destination: StridedLayout, accumulate: Bool = false) {
        self.blocks = blocks
        self.rows = rows
        self.width = width
        self.source = source
        self.destination = destination
        self.accumulate = accumulate
    }

    /// Elements copied.
    public var count: Int { blocks * rows * width }
    /// One past the largest flat index the layout touches (its offset when nothing is copied).
    public func extent(_ layout: StridedLayout) -> Int {
        count == 0 ? layout.offset : layout.offset + (blocks - 1) * layout.blockStride + (rows - 1) * layout.rowStride + width
    }
    public var description: String {
        "\(blocks)x\(rows)x\(width) \(source) → \(destination)\(accumulate ? " +=" : "")"
    }
}

/// The linear recursion `x_t = A_t·x_{t−1} + u_t` for `batch` rows through `steps` steps, every row sharing the
/// step's n × n matrix A_t: the means of a Kalman filter with shared covariances, its smoother and the adjoint of
/// the Kalman-LDM loss are all this recursion (docs/kernels.md, affine_scan). Layouts: u and x `[T, B, n]`, A
/// `[T, n, n]`, the initial state `[B, n]` (zero when none is given).
///
/// `reverse` runs the steps backwards, `x_t = A_t·x_{t+1} + u_t` from x_T = the initial state; `transposed` uses
/// A_tᵀ. The two together are the recursion's adjoint. The backends split the steps into `chunks` (0: their own
/// choice) that run at the same time: each chunk scans from zero while it forms the products A_t···A_s of its
/// steps, then the chunks' end states are carried over in order and every step adds its product times its chunk's
/// carry (the two-level form of the associative scan).
public struct AffineScanShape: Hashable, Sendable, CustomStringConvertible {
    public var steps: Int
    public var batch: Int
    public var n: Int
    public var reverse: Bool
    public var transposed: Bool
    /// How many pieces the steps are split into; 0 lets the backend choose (1 is the sequential recursion).
    public var chunks: Int
    /// Matrices per step: the transitions are `[T, groups, n, n]` and row q uses group q / (batch / groups), so
    /// `batch` is a multiple of `groups` (1: every row shares the step's matrix; batch: each row has its own).
    public var groups: Int

    public init(steps: Int, batch: Int, n: Int, reverse: Bool = false, transposed: Bool = false, chunks: Int = 0,
                groups: Int = 1) {
        self.steps = steps
        self.batch = batch
        self.n = n
        self.reverse = reverse
        self.transposed = transposed
        self.chunks = chunks
        self.groups = groups
    }

    /// Rows sharing each group's matrices.
    public var rowsPerGroup: Int { batch / max(1, groups) }

    /// The chunk length and count for a requested count (clamped to 1…T): every chunk but the last is full.
    public func chunking(_ requested: Int) -> (length: Int, count: Int) { Self.chunking(steps: steps, requested) }

    /// The chunk length and count that split `steps` into `requested` pieces (clamped to 1…steps).
    public static func chunking(steps: Int, _ requested: Int) -> (length: Int, count: Int) {
        let wanted = max(1, min(requested, steps))
        let length = (steps + wanted - 1) / wanted
        return (length, (steps + length - 1) / length)
    }

    /// Floating-point operations of the sequential recursion (a multiply-add counts 2).
    public var flops: Double { 2 * Double(steps) * Double(batch) * Double(n) * Double(n) }

    public var description: String {
        "T=\(steps) B=\(batch) n=\(n)\(groups > 1 ? " G=\(groups)" : "")\(reverse ? " reverse" : "")\(transposed ? " transposed" : "")"
            + (chunks > 0 ? " chunks=\(chunks)" : "")
    }
}
