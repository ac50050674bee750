import Foundation
import LDMReference

/// The Ornstein–Uhlenbeck ICA data of docs/mathematics.md §6: independent OU processes, one per source, simulated by
/// Euler–Maruyama (`x_t = x_{t−1} + θ·(μ − x_{t−1})·dt + σ·√dt·N(0, 1)`, x_0 = 0, μ = 0), mixed by a rotation.
///
/// The reference demo (ICA/ou-process.py of the paper's code) uses θ = 2.0 and 0.2, σ = 0.3, dt = 0.1, 50 000
/// steps and a 45° mixing rotation; those are the defaults. Seeded: the same numbers on every machine.
public struct OrnsteinUhlenbeckMixture: Sendable {
    /// Mean-reversion rate of each source (fast, slow).
    public var rates: [Double] = [2.0, 0.2]
    public var volatility = 0.3
    public var timeStep = 0.1
    public var steps = 50_000
    /// The mixing rotation's angle (two sources only), radians.
    public var mixingAngle = Double.pi / 4

    public init() {}

    /// The sources and their centred mixtures, both `steps × sources` row-major, and each source's variance
    /// (population variance over the path, which the reference's latent model uses).
    public struct Sample: Sendable {
        public var sources: [Float]
        public var mixed: [Float]
        public var variances: [Double]
        public var count: Int
        public var dimension: Int
    }

    public func generate(seed: UInt64) -> Sample {
        let d = rates.count, n = steps
        var generator = SeededGenerator(seed: seed)
        var paths = [[Double]](repeating: [Double](repeating: 0, count: n), count: d)
        let root = timeStep.squareRoot()
        for (k, theta) in rates.enumerated() {
            for t in 1..<n {
                let previous = paths[k][t - 1]
                paths[k][t] = previous - theta * previous * timeStep + volatility * root * generator.normal()
            }
        }
        let variances = paths.map { path -> Double in
            let mean = path.reduce(0, +) / Double(n)
            return path.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        }
        let mixing = Self.rotation(angle: mixingAngle, dimension: d)
        var mixed = [Double](repeating: 0, count: n * d)
        for t in 0..<n {
            for i in 0..<d { mixed[t * d + i] = (0..<d).reduce(0) { $0 + mixing[i * d + $1] * paths[$1][t] } }
        }
        for i in 0..<d {   // centre each mixed channel, as the reference does before unmixing
            let mean = (0..<n).reduce(0) { $0 + mixed[$1 * d + i] } / Double(n)
            for t in 0..<n { mixed[t * d + i] -= mean }
        }
        var sources = [Float](repeating: 0, count: n * d)
        for t in 0..<n { for k in 0..<d { sources[t * d + k] = Float(paths[k][t]) } }
        return Sample(sources: sources, mixed: mixed.map(Float.init), variances: variances, count: n, dimension: d)
    }

    /// The mixing matrix: a rotation by `angle` in the plane of the first two coordinates (identity elsewhere).
    static func rotation(angle: Double, dimension d: Int) -> [Double] {
        var m = [Double](repeating: 0, count: d * d)
        for i in 0..<d { m[i * d + i] = 1 }
        guard d >= 2 else { return m }
        m[0] = cos(angle); m[1] = -sin(angle); m[d] = sin(angle); m[d + 1] = cos(angle)
        return m
    }
}
