import Foundation
import LDMReference

/// Two-view synthetic vector data (docs/mathematics.md §6): a latent s, either standard normal, uniform on the unit sphere, or
/// drawn from one of `classes` clusters (for clustering objectives), and two views `x_v = g(s + ε_v)`,
/// ε_v ~ N(0, noise²·I), through one fixed random invertible MLP g.
///
/// Clusters: a label c uniform over the classes and `s = μ_c + clusterSpread·N(0, I)`, with the centres μ_c random
/// unit vectors fixed by `mixingSeed` (like g). Both views of a row share s, hence its label.
///
/// g has `mixingLayers` square layers `h ← σ(M_l·h)`, M_l = Q_l·diag(c_l) with Q_l a random orthogonal matrix
/// and c_l uniform in [0.5, 1.5] (condition number at most 3), σ a leaky ReLU of slope 0.2 after every layer but
/// the last: invertible by construction, as in the "contrastive learning inverts the data-generating process"
/// setting (Zimmermann et al. 2021). g depends only on `mixingSeed`, so runs with different seeds see the same
/// g (and their representations can be compared with CKA).
public struct TwoViewData: Sendable {
    public enum Latent: String, Sendable, CaseIterable {
        case gaussian, sphere, clusters
    }

    public var latent = Latent.sphere
    public var dimension = 10
    /// The standard deviation of each view's latent noise.
    public var noise = 0.1
    public var mixingLayers = 3
    public var mixingSeed: UInt64 = 0x6C64_6D67
    /// The number of clusters of the `clusters` latent.
    public var classes = 10
    /// The per-coordinate standard deviation of s around its cluster's centre.
    public var clusterSpread = 0.1

    public init() {}

    /// `count` rows of latents and of each view, all `count × dimension` row-major, and the oracle
    /// representation of view 1: g⁻¹(x₁) = s + ε₁, projected onto the sphere for the sphere latent (the best an
    /// encoder can recover, since ε₁ is lost); for the `clusters` latent, each row's cluster.
    public struct Sample: Sendable {
        public var latents: [Float], view1: [Float], view2: [Float]
        public var oracle1: [Float]
        public var labels: [Int]?
        public var count: Int
    }

    public func generate(count: Int, seed: UInt64) -> Sample {
        let d = dimension, layers = mixing(), centres = latent == .clusters ? clusterCentres() : []
        var generator = SeededGenerator(seed: seed)
        var latents = [Float](), view1 = [Float](), view2 = [Float](), oracle1 = [Float](), labels = [Int]()
        latents.reserveCapacity(count * d)
        view1.reserveCapacity(count * d)
        view2.reserveCapacity(count * d)
        for _ in 0..<count {
            var s = (0..<d).map { _ in generator.normal() }
            if latent == .clusters {
                let label = min(Int(generator.uniform() * Double(classes)), classes - 1)
                labels.append(label)
                s = (0..<d).map { centres[label][$0] + clusterSpread * s[$0] }
            } else if latent == .sphere {
                let norm = s.reduce(0) { $0 + $1 * $1 }.squareRoot()
                s = s.map { $0 / max(norm, 1e-300) }
            }
            latents += s.map(Float.init)
            for v in 0..<2 {
                let noisy = s.map { $0 + noise * generator.normal() }
                let seen = Self.apply(layers, to: noisy, dimension: d)
                if v == 0 {
                    view1 += seen.map(Float.init)
                    let norm = latent == .sphere ? noisy.reduce(0) { $0 + $1 * $1 }.squareRoot() : 1
                    oracle1 += noisy.map { Float($0 / max(norm, 1e-300)) }
                } else {
                    view2 += seen.map(Float.init)
                }
            }
        }
        return Sample(latents: latents, view1: view1, view2: view2, oracle1: oracle1,
                      labels: latent == .clusters ? labels : nil, count: count)
    }

    /// The `classes` cluster centres: random unit vectors that depend only on `mixingSeed` and the dimension.
    public func clusterCentres() -> [[Double]] {
        var generator = SeededGenerator(seed: mixingSeed &+ 0x636C_7573 &+ UInt64(dimension))
        return (0..<classes).map { _ in
            let v = (0..<dimension).map { _ in generator.normal() }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / max(norm, 1e-300) }
        }
    }

    /// The matrices M_l (d × d row-major) of g.
    func mixing() -> [[Double]] {
        let d = dimension
        var generator = SeededGenerator(seed: mixingSeed &+ UInt64(d))
        return (0..<mixingLayers).map { _ in
            // Gram–Schmidt on Gaussian rows gives a random orthogonal Q; then scale its columns.
            var q = [[Double]]()
            while q.count < d {
                var row = (0..<d).map { _ in generator.normal() }
                for previous in q {
                    let projection = zip(row, previous).reduce(0) { $0 + $1.0 * $1.1 }
                    row = zip(row, previous).map { $0 - projection * $1 }
                }
                let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm > 1e-6 { q.append(row.map { $0 / norm }) }
            }
            let scales = (0..<d).map { _ in 0.5 + generator.uniform() }
            return (0..<(d * d)).map { q[$0 / d][$0 % d] * scales[$0 % d] }
        }
    }

    static func apply(_ layers: [[Double]], to input: [Double], dimension d: Int) -> [Double] {
        var h = input
        for (index, m) in layers.enumerated() {
            h = (0..<d).map { i in (0..<d).reduce(0) { $0 + m[i * d + $1] * h[$1] } }
            if index < layers.count - 1 { h = h.map { $0 > 0 ? $0 : 0.2 * $0 } }
        }
        return h
    }
}

/// Two views the user supplies (rows paired), with optional true latents for the probe and optional class labels
/// for the clustering accuracy.
public struct TwoViewArrays: Sendable {
    public var view1: [Float], view2: [Float]
    public var latents: [Float]?
    public var labels: [Int]?
    public var count: Int, dimension: Int, latentDimension: Int

    public init(view1: [Float], view2: [Float], latents: [Float]?, labels: [Int]? = nil, count: Int, dimension: Int,
                latentDimension: Int) {
        (self.view1, self.view2, self.latents, self.labels) = (view1, view2, latents, labels)
        (self.count, self.dimension, self.latentDimension) = (count, dimension, latentDimension)
    }
}
