import COpenCL
import Foundation
import LDMEngine

/// cholesky (OpenCL launcher of Kernels/cholesky.cl) and the log-det estimator built on it.
extension OpenCLBackend {
    static let choleskyGroup = 128
    static let choleskyOptions = "-DCHOL_WG=\(choleskyGroup)"

    /// Factors the symmetric positive definite `n × n` matrix `source` into `factor` (lower triangle), adding
    /// jitter `1e-6·mean(diag)·10^t` for t = 0…4 when a factorisation fails (docs/mathematics.md §9). Returns the jitter used.
    /// `jitter: false` factors once and throws on failure (for matrices that must be positive definite as given).
    func choleskyWithJitter(_ source: Tensor, into factor: Tensor, n: Int, what: String, jitter useJitter: Bool = true)
        throws -> Float {
        let op = "cholesky \(what)"
        let group = 64
        let diagonal = try makeTensor([n])
        try launch(try kernel("cholesky", "diagonal", options: Self.choleskyOptions), "diagonal",
                   [.int(Int32(n)), .buffer(try mem(source, op)), .buffer(try mem(diagonal, op))],
                   global: [padded(n, to: group), 1], local: [group, 1])
        let total = try makeTensor([1])
        try reduceRows(diagonal, into: total, .sum, RowsShape(rows: 1, columns: n))
        let meanDiagonal = Double(try download(total)[0]) / Double(n)
        let info = try makeTensor([1])
        var jitter: Float = 0
        for attempt in 0...(useJitter ? 5 : 0) {
            if attempt > 0 { jitter = Float(1e-6 * meanDiagonal * pow(10, Double(attempt - 1))) }
            try copy(source, to: factor)
            if jitter > 0 {
                try launch(try kernel("cholesky", "add_diagonal", options: Self.choleskyOptions), "add_diagonal",
                           [.int(Int32(n)), .float(jitter), .buffer(try mem(factor, op))],
                           global: [padded(n, to: group), 1], local: [group, 1])
            }
            try launch(try kernel("cholesky", "cholesky_lower", options: Self.choleskyOptions), "cholesky_lower",
                       [.int(Int32(n)), .buffer(try mem(factor, op)), .buffer(try mem(info, op))],
                       global: [Self.choleskyGroup], local: [Self.choleskyGroup])
            if try download(info)[0] == 0 { return jitter }
        }
        throw LDMError.notPositiveDefinite(what: what, detail: "Cholesky failed even with jitter \(jitter) on the diagonal")
    }

    /// `Σ_j log L_jj` of a factor from ``choleskyWithJitter(_:into:n:what:)`` (= ½·log det of the matrix).
    func halfLogDeterminant(_ factor: Tensor, n: Int) throws -> Double {
        let logs = try makeTensor([n])
        try launch(try kernel("cholesky", "log_diagonal", options: Self.choleskyOptions), "log_diagonal",
                   [.int(Int32(n)), .buffer(try mem(factor, "log_diagonal")), .buffer(try mem(logs, "log_diagonal"))],
                   global: [padded(n, to: 64), 1], local: [64, 1])
        let total = try makeTensor([1])
        try reduceRows(logs, into: total, .sum, RowsShape(rows: 1, columns: n))
        return Double(try download(total)[0])
    }

    /// `B ← α·B·op(L)⁻¹` for the lower-triangular `n × n` factor L (op = transpose when `transposed`), B `m × n`,
    /// through CLBlast.
    func solveRight(_ b: Tensor, m: Int, byLower factor: Tensor, n: Int, transposed: Bool, alpha: Float) throws {
        try triangularSolve(b, rows: m, columns: n, factor: factor, left: false, transposed: transposed, alpha: alpha)
    }

    /// `B ← α·op(L)⁻¹·B` for the lower-triangular `n × n` factor L, B `n × columns`, through CLBlast.
    func solveLeft(_ b: Tensor, columns: Int, byLower factor: Tensor, n: Int, transposed: Bool, alpha: Float) throws {
        try triangularSolve(b, rows: n, columns: columns, factor: factor, left: true, transposed: transposed, alpha: alpha)
    }

    private func triangularSolve(_ b: Tensor, rows m: Int, columns n: Int, factor: Tensor, left: Bool, transposed: Bool,
                                 alpha: Float) throws {
        let a = try mem(factor, "trsm"), bm = try mem(b, "trsm")
        let order = left ? m : n
        let status: CLBlastStatusCode = lock.withLock {
            var q: cl_command_queue? = queue
            return CLBlastStrsm(CLBlastLayoutRowMajor, left ? CLBlastSideLeft : CLBlastSideRight, CLBlastTriangleLower,
                                transposed ? CLBlastTransposeYes : CLBlastTransposeNo, CLBlastDiagonalNonUnit,
                                m, n, alpha, a, 0, order, bm, 0, n, &q, nil)
        }
        guard status == CLBlastSuccess else {
            throw LDMError.deviceFailure(call: "CLBlastStrsm \(left ? "left" : "right") \(m)x\(n)", code: status.rawValue,
                                         name: OpenCLStatus.clblastName(status.rawValue), device: info.description)
        }
    }

    public func uncheckedCholesky(_ a: Tensor, into factor: Tensor, _ s: CholeskyShape) throws -> Float {
        _ = try requireInt32(a.count, "cholesky")
        if s.batch == 1 { return try choleskyWithJitter(a, into: factor, n: s.n, what: "matrix 0 of \(s)") }
        // Batches: one work-group per matrix; matrices that fail get the jitter policy one at a time.
        let op = "cholesky \(s)"
        let info = try makeTensor([s.batch])
        try copy(a, to: factor)
        try launch(try kernel("cholesky", "cholesky_lower", options: Self.choleskyOptions), "cholesky_lower",
                   [.int(Int32(s.n)), .buffer(try mem(factor, op)), .buffer(try mem(info, op))],
                   global: [s.batch * Self.choleskyGroup], local: [Self.choleskyGroup])
        var largest: Float = 0
        for (index, flag) in try download(info).enumerated() where flag != 0 {
            let count = s.n * s.n
            let one = try makeTensor([s.n, s.n]), oneFactor = try makeTensor([s.n, s.n])
            try copy(a, offset: index * count, to: one, offset: 0, count: count)
            largest = max(largest, try choleskyWithJitter(one, into: oneFactor, n: s.n, what: "matrix \(index) of \(s)"))
            try copy(oneFactor, offset: 0, to: factor, offset: index * count, count: count)
        }
        return largest
    }

    public func uncheckedTriangularSolve(_ factor: Tensor, _ b: Tensor, _ s: TriangularSolveShape) throws {
        try triangularSolve(b, rows: s.rows, columns: s.columns, factor: factor, left: s.left, transposed: s.transposed,
                            alpha: s.alpha)
    }

    public func uncheckedGaussianLogDet(_ z: Tensor, gradient: Tensor, _ s: LogDetShape) throws -> LogDetResult {
        let op = "gaussianLogDet \(s)"
        let (b, d) = (s.rows, s.dimension)
        _ = try requireInt32(max(z.count, d * d), op)
        // Centre with covariance.cl's column kernels (written there once), then C = X̃ᵀX̃/(B−1) + εI.
        let centred = try centredColumns(z, rows: b, d: d)
        let covariance = try makeTensor([d, d])
        try matmul(centred, centred, into: covariance, MatmulShape(m: d, n: d, k: b, transposeA: true, alpha: 1 / Float(b - 1)))
        if s.epsilon > 0 {
            try launch(try kernel("cholesky", "add_diagonal", options: Self.choleskyOptions), "add_diagonal",
                       [.int(Int32(d)), .float(s.epsilon), .buffer(try mem(covariance, op))],
                       global: [padded(d, to: 64), 1], local: [64, 1])
        }
        let factor = try makeTensor([d, d])
        let jitter = try choleskyWithJitter(covariance, into: factor, n: d, what: "the covariance of z (\(s))")
        let value = try halfLogDeterminant(factor, n: d)
        // ∂/∂z = X̃·C⁻¹/(B−1) = X̃·L⁻ᵀ·L⁻¹/(B−1).
        try copy(centred, to: gradient)
        try solveRight(gradient, m: b, byLower: factor, n: d, transposed: true, alpha: 1 / Float(b - 1))
        try solveRight(gradient, m: b, byLower: factor, n: d, transposed: false, alpha: 1)
        return LogDetResult(value: value, jitter: jitter)
    }
}
