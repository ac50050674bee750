import Foundation

/// A filtered batch: the covariance tape (per group) and the means tape (per sequence), on the backend.
public struct KalmanFilterResult {
    public let batch: Int, steps: Int
    public let covariances: KalmanCovarianceTape
    public let means: KalmanMeanTape
    /// The largest jitter added to any S_t (0 when none was needed).
    public let jitter: Float

    public init(batch: Int, steps: Int, covariances: KalmanCovarianceTape, means: KalmanMeanTape, jitter: Float) {
        (self.batch, self.steps, self.covariances, self.means, self.jitter) = (batch, steps, covariances, means, jitter)
    }

    /// How many covariance groups the batch shares (1, or one per sequence).
    public var groups: Int { covariances.groups }
    /// [B] log p(z_1…z_T) per sequence, the −m/2·log 2π constants included.
    public var logLikelihood: Tensor { means.logLikelihood }
}

/// The smoothed batch.
public struct KalmanSmoothed {
    /// [B, T, n]
    public let means: Tensor
    /// [T, G, n, n] (see ``KalmanLayout/perSequence(_:steps:groups:batch:elements:)``)
    public let covariances: Tensor
}

/// Host-side conversions between the kernels' layouts.
public enum KalmanLayout {
    /// `[T, G, e]` per-group values as `[B, T, e]` per-sequence values (sequence q uses group q / (B / G)).
    public static func perSequence(_ values: [Float], steps: Int, groups: Int, batch: Int, elements: Int) -> [Float] {
        var out = [Float](repeating: 0, count: batch * steps * elements)
        let perGroup = batch / groups
        for q in 0..<batch {
            for t in 0..<steps {
                let from = (t * groups + q / perGroup) * elements, to = (q * steps + t) * elements
                for e in 0..<elements { out[to + e] = values[from + e] }
            }
        }
        return out
    }
}

extension Backend {
    /// Filters `z` ([B, T, m]) under `model`: the covariance recursion once per noise group, then the means.
    ///
    /// ```swift
    /// let model = try LinearGaussianModel(F: [1, 0.1, 0, 1], H: [1, 0], Q: [0.01, 0, 0, 0.01], R: [0.1])
    /// let result = try backend.kalmanFilter(z, model)          // z: [B, T, 1]
    /// let logLikelihood = try backend.download(result.logLikelihood)
    /// ```
    /// `timeParallel` picks the means' form (``KalmanTimeParallel``); the covariances, whose noise here is the same
    /// at every step, always run the sequential recursion (it reaches a fixed point and copies the rest).
    public func kalmanFilter(_ z: Tensor, _ model: LinearGaussianModel, timeParallel: KalmanTimeParallel = .automatic) throws
        -> KalmanFilterResult {
        let (n, m) = (model.stateDimension, model.observationDimension)
        guard z.shape.rank == 3, z.shape.dims[2] == m, z.shape.dims[0] >= 1, z.shape.dims[1] >= 1 else {
            throw LDMError.shapeMismatch(operation: "kalmanFilter", detail: "observations must be [B, T, \(m)], got \(z.shape)")
        }
        let (b, t) = (z.shape.dims[0], z.shape.dims[1])
        let g = model.noiseGroups
        guard g == 1 || g == b else {
            throw LDMError.shapeMismatch(operation: "kalmanFilter", detail: "Q or R is given for \(g) sequences but the batch has \(b)")
        }
        let f = try upload(model.F, shape: [n, n]), h = try upload(model.H, shape: [m, n])
        let inputs = KalmanCovarianceInputs(
            F: f, H: h, Q: try upload(model.Q, shape: [model.qGroups, n, n]), qGroups: model.qGroups,
            R: .full(try upload(model.R, shape: [model.rGroups, 1, m, m]), groups: model.rGroups, steps: 1),
            P0: try upload(model.P0, shape: [n, n]), groups: g, steps: t, n: n, m: m)
        let tape = try KalmanCovarianceTape(groups: g, steps: t, n: n, m: m, on: self)
        let jitter = try kalmanCovarianceForward(inputs, into: tape)
        let means = try KalmanMeanTape(batch: b, steps: t, n: n, m: m, on: self)
        try kalmanMeanForward(z, KalmanMeanInputs(F: f, offset: try upload(model.offset, shape: [n]), H: h,
                                                  m0: try upload(model.m0, shape: [n])), tape, into: means,
                              timeParallel: timeParallel)
        return KalmanFilterResult(batch: b, steps: t, covariances: tape, means: means, jitter: jitter)
    }

    /// Rauch–Tung–Striebel smoothing of a filtered batch (`G_t = P_t·Fᵀ·(P⁻_{t+1})⁻¹` by Cholesky solves).
    public func rtsSmoother(_ filtered: KalmanFilterResult, _ model: LinearGaussianModel,
                            timeParallel: KalmanTimeParallel = .automatic) throws -> KalmanSmoothed {
        let (n, t, g) = (model.stateDimension, filtered.steps, filtered.groups)
        let smoother = try KalmanSmootherTape(groups: g, steps: t, n: n, on: self)
        try kalmanCovarianceSmoother(filtered.covariances, F: try upload(model.F, shape: [n, n]), into: smoother)
        let means = try makeTensor([filtered.batch, t, n])
        try kalmanMeanSmoother(filtered.means, smoother, groups: g, into: means, timeParallel: timeParallel)
        return KalmanSmoothed(means: means, covariances: smoother.covariances)
    }
}
