import Foundation
import LDMReference

/// The dot-motion videos of docs/mathematics.md §6: a 2-D position drawn as a Gaussian blob on a 10 × 10 image (100 inputs per
/// frame) plus pixel noise. Seeded: the same seed gives the same data on every machine.
public struct DotMotion: Sendable, Equatable {
    public enum Path: String, Sendable, CaseIterable {
        /// dt = 0.2, period 4: around the unit square, 0.314 rad per step; the same path for every sequence.
        case square
        /// dt = 0.1, period 1: (cos θ, sin θ·cos θ), θ = 0.1π·t; the same path for every sequence.
        case figure8
        /// dt = 0.1, period 2: a rotation by 0.1π per step plus process noise, renormalised to the unit circle,
        /// and with probability `jumpRate` per step a further 135° jump; a different path for every sequence.
        case circular
    }

    /// The per-pixel noise variance v_t of each frame.
    public enum Noise: Sendable, Equatable {
        /// v_t = variance.
        case gaussian(variance: Double)
        /// v_t = max(0, Exp(mean) − 0.3·mean), drawn per step (the first frame of square and circular paths uses
        /// the mean, as the reference generator does).
        case randomGaussian(mean: Double)
    }

    public static let side = 10
    public static let pixels = side * side

    public var path: Path
    public var steps: Int
    public var noise: Noise
    /// The circular path's process-noise variance per step (pred_noise).
    public var predictionNoise: Double = 0
    /// The circular path's probability of a 135° jump per step.
    public var jumpRate: Double = 0
    /// Draw y as −y wherever x > 0 (a non-invertible view of the position; the labels keep the true position).
    public var halfFlip = false

    /// The reference noise of each path: square 0.1, figure-8 0.01 (`gaussian`), circular `random_gaussian` with
    /// mean 0.3 and process noise 0.05.
    public init(path: Path, steps: Int = 100) {
        self.path = path
        self.steps = steps
        switch path {
        case .square: noise = .gaussian(variance: 0.1)
        case .figure8: noise = .gaussian(variance: 0.01)
        case .circular:
            noise = .randomGaussian(mean: 0.3)
            predictionNoise = 0.05
        }
    }

    /// One generated data set, row-major.
    public struct Sequences: Sendable {
        /// [count, steps, 100]
        public var frames: [Float]
        /// The true positions [count, steps, 2].
        public var positions: [Float]
        /// The pixel-noise variance of every frame [count, steps].
        public var noiseVariances: [Float]
    }

    /// The position at step t of the square and figure-8 paths (for circular, the noise- and jump-free circle).
    public func fixedPosition(_ t: Int) -> (x: Double, y: Double) {
        switch path {
        case .square:
            guard t > 0 else { return (1, 0) }
            let u = Double(t) * 0.2 / (4.0 / 4)
            let s = 2 * (u - u.rounded(.down)) - 1
            switch Int(u.rounded(.down)) % 4 {
            case 0: return (1, s)
            case 1: return (-s, 1)
            case 2: return (-1, -s)
            default: return (s, -1)
            }
        case .figure8:
            let theta = Double(t) * 0.1 * Double.pi / 1
            return (cos(theta), sin(theta) * cos(theta))
        case .circular:
            let theta = Double(t) * 2 * Double.pi * 0.1 / 2
            return (cos(theta), sin(theta))
        }
    }

    /// `count` sequences drawn from `seed`.
    public func generate(count: Int, seed: UInt64) -> Sequences {
        var generator = SeededGenerator(seed: seed)
        var out = Sequences(frames: [Float](repeating: 0, count: count * steps * Self.pixels),
                            positions: [Float](repeating: 0, count: count * steps * 2),
                            noiseVariances: [Float](repeating: 0, count: count * steps))
        let fixedFrames = path == .circular ? [] : (0..<steps).map { blob(fixedPosition($0)) }
        for q in 0..<count {
            var p = (x: 1.0, y: 0.0)
            for t in 0..<steps {
                if path == .circular {
                    if t > 0 { p = circularStep(from: p, &generator) }
                } else {
                    p = fixedPosition(t)
                }
                let variance = noiseVariance(step: t, &generator)
                let row = q * steps + t, base = row * Self.pixels
                out.positions[row * 2] = Float(p.x)
                out.positions[row * 2 + 1] = Float(p.y)
                out.noiseVariances[row] = Float(variance)
                let clean = path == .circular ? blob(p) : fixedFrames[t]
                let deviation = variance.squareRoot()
                for k in 0..<Self.pixels { out.frames[base + k] = Float(clean[k] + deviation * generator.normal()) }
            }
        }
        return out
    }

    /// p_t = R(0.1π)·p_{t−1} + √q·N(0, I), renormalised; then, with probability `jumpRate`, rotated by 135°.
    func circularStep(from p: (x: Double, y: Double), _ generator: inout SeededGenerator) -> (x: Double, y: Double) {
        let w = 2 * Double.pi * 0.1 / 2, deviation = predictionNoise.squareRoot()
        var x = cos(w) * p.x - sin(w) * p.y + deviation * generator.normal()
        var y = sin(w) * p.x + cos(w) * p.y + deviation * generator.normal()
        let norm = (x * x + y * y).squareRoot()
        if norm > 0 { (x, y) = (x / norm, y / norm) }
        if jumpRate > 0 && generator.uniform() < jumpRate {
            let jump = Double.pi * 135 / 180
            (x, y) = (cos(jump) * x - sin(jump) * y, sin(jump) * x + cos(jump) * y)
        }
        return (x, y)
    }

    func noiseVariance(step t: Int, _ generator: inout SeededGenerator) -> Double {
        switch noise {
        case .gaussian(let variance): return variance
        case .randomGaussian(let mean):
            if t == 0 && path != .figure8 { return mean }
            let exponential = -mean * log(max(1 - generator.uniform(), .leastNormalMagnitude))
            return max(0, exponential - 0.3 * mean)
        }
    }

    /// Pixel (i, j) = exp(−((i − x̃)² + (j − ỹ)²) / 2), x̃ = clamp((x + 3)·10/6, 0, 9), flattened as i·10 + j;
    /// with `halfFlip`, y is drawn as −y where x > 0.
    func blob(_ p: (x: Double, y: Double)) -> [Double] {
        let scaled = { (v: Double) in min(max((v + 3) * 10 / 6, 0), 9) }
        let (cx, cy) = (scaled(p.x), scaled(halfFlip && p.x > 0 ? -p.y : p.y))
        return (0..<Self.pixels).map { k in
            let (i, j) = (Double(k / Self.side), Double(k % Self.side))
            return exp(-((i - cx) * (i - cx) + (j - cy) * (j - cy)) / 2)
        }
    }
}
