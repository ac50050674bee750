import Foundation
import LDMReference

/// The dot-motion videos of SPEC §6: a 2-D position drawn as a Gaussian blob on a 10 × 10 image (100 inputs per
/// frame) plus pixel noise. Seeded: the same seed gives the same data on every machine.
public struct DotMotion: Sendable {
    public enum Path: String, Sendable, CaseIterable {
        /// dt = 0.2, period 4: around the unit square, 0.314 rad per step; pixel noise variance 0.1.
        case square
        /// dt = 0.1, period 1: (cos θ, sin θ·cos θ), θ = 0.1π·t; pixel noise variance 0.01.
        case figure8
    }

    public static let side = 10
    public static let pixels = side * side

    public let path: Path
    public let steps: Int
    /// The per-pixel noise variance (`gaussian` noise).
    public let observationNoise: Double

    public init(path: Path, steps: Int = 100) {
        self.path = path
        self.steps = steps
        observationNoise = path == .square ? 0.1 : 0.01
    }

    /// The true position at step t (the same path for every sequence).
    public func position(_ t: Int) -> (x: Double, y: Double) {
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
        }
    }

    /// `count` sequences: frames [count, steps, 100] and true positions [count, steps, 2], row-major.
    public func generate(count: Int, seed: UInt64) -> (frames: [Float], positions: [Float]) {
        var generator = SeededGenerator(seed: seed)
        var frames = [Float](repeating: 0, count: count * steps * Self.pixels)
        var positions = [Float](repeating: 0, count: count * steps * 2)
        let clean = (0..<steps).map { blob(position($0)) }
        let deviation = observationNoise.squareRoot()
        for q in 0..<count {
            for t in 0..<steps {
                let p = position(t), base = (q * steps + t) * Self.pixels
                positions[(q * steps + t) * 2] = Float(p.x)
                positions[(q * steps + t) * 2 + 1] = Float(p.y)
                for k in 0..<Self.pixels { frames[base + k] = Float(clean[t][k] + deviation * generator.normal()) }
            }
        }
        return (frames, positions)
    }

    /// Pixel (i, j) = exp(−((i − x̃)² + (j − ỹ)²) / 2), x̃ = clamp((x + 3)·10/6, 0, 9), flattened as i·10 + j.
    func blob(_ p: (x: Double, y: Double)) -> [Double] {
        let scaled = { (v: Double) in min(max((v + 3) * 10 / 6, 0), 9) }
        let (cx, cy) = (scaled(p.x), scaled(p.y))
        return (0..<Self.pixels).map { k in
            let (i, j) = (Double(k / Self.side), Double(k % Self.side))
            return exp(-((i - cx) * (i - cx) + (j - cy) * (j - cy)) / 2)
        }
    }
}
