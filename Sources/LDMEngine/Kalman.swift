import Foundation

/// A linear-Gaussian state-space model for a batch of sequences (docs/mathematics.md §5):
/// `h_t = F·h_{t−1} + c + N(0, Q)`, `z_t = H·h_t + N(0, R)`, from `h_0 ~ N(m0, P0)` (the offset c is 0 unless
/// given; the Kalman-LDM form `A(h − b) + b` is F = A, c = (I − A)·b). Matrices are row-major host arrays.
/// Q and R are shared (n × n, m × m) or given per sequence (G × n × n, G × m × m with G the batch); the filter
/// computes the covariances once per distinct (Q, R), so shared noises cost O(T·n³) however many sequences run.
public struct LinearGaussianModel: Sendable, Equatable {
    public var stateDimension: Int
    public var observationDimension: Int
    public var F: [Float]
    public var H: [Float]
    public var Q: [Float]
    public var R: [Float]
    public var m0: [Float]
    public var P0: [Float]
    public var offset: [Float]

    /// A model; `m0` defaults to 0 and `P0` to I, as in filterpy. m is read from H (m × n).
    public init(F: [Float], H: [Float], Q: [Float], R: [Float], m0: [Float]? = nil, P0: [Float]? = nil,
                offset: [Float]? = nil) throws {
        let n = Int(Double(F.count).squareRoot().rounded())
        guard n >= 1, n * n == F.count else {
            throw LDMError.shapeMismatch(operation: "LinearGaussianModel", detail: "F must be n × n, got \(F.count) entries")
        }
        let m = H.count / n
        guard m >= 1, H.count == m * n else {
            throw LDMError.shapeMismatch(operation: "LinearGaussianModel", detail: "H must be m × \(n), got \(H.count) entries")
        }
        guard !Q.isEmpty, Q.count % (n * n) == 0, !R.isEmpty, R.count % (m * m) == 0 else {
            throw LDMError.shapeMismatch(operation: "LinearGaussianModel",
                                         detail: "Q must be \(n) × \(n) (or one per sequence) and R \(m) × \(m) (or one per sequence); got \(Q.count) and \(R.count) entries")
        }
        let (qGroups, rGroups) = (Q.count / (n * n), R.count / (m * m))
        guard qGroups == 1 || rGroups == 1 || qGroups == rGroups else {
            throw LDMError.shapeMismatch(operation: "LinearGaussianModel", detail: "per-sequence Q (\(qGroups)) and R (\(rGroups)) disagree")
        }
        let mean = m0 ?? [Float](repeating: 0, count: n)
        let covariance = P0 ?? (0..<(n * n)).map { $0 / n == $0 % n ? 1 : 0 }
        let c = offset ?? [Float](repeating: 0, count: n)
        guard mean.count == n, covariance.count == n * n, c.count == n else {
            throw LDMError.shapeMismatch(operation: "LinearGaussianModel",
                                         detail: "m0 and the offset must have \(n) entries and P0 \(n) × \(n)")
        }
        for (name, values) in [("F", F), ("H", H), ("Q", Q), ("R", R), ("m0", mean), ("P0", covariance), ("offset", c)]
            where values.contains(where: { !$0.isFinite }) {
            throw LDMError.invalidArgument("LinearGaussianModel: \(name) has non-finite entries")
        }
        try CovarianceCheck.symmetric(Q, n, "Q", definite: false)
        try CovarianceCheck.symmetric(R, m, "R", definite: false)
        try CovarianceCheck.symmetric(covariance, n, "P0", definite: false)
        stateDimension = n
        observationDimension = m
        self.F = F
        self.H = H
        self.Q = Q
        self.R = R
        self.m0 = mean
        self.P0 = covariance
        self.offset = c
    }

    /// How many distinct Q (and R) the model holds: 1 when shared, else one per sequence.
    public var qGroups: Int { Q.count / (stateDimension * stateDimension) }
    public var rGroups: Int { R.count / (observationDimension * observationDimension) }
    public var noiseGroups: Int { Swift.max(qGroups, rGroups) }
}
