import Foundation

/// Seeded pseudo-random inputs for tests and benchmarks: the same numbers on every machine.
///
/// SplitMix64 (Steele, Lea & Flood 2014) feeding uniform and normal draws. Optional outliers (a few entries
/// scaled by 100) catch kernels that lose precision on wide dynamic ranges.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300)
        let u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// `count` standard-normal floats; when `outliers` is set, about one in 97 entries is multiplied by 100.
    public mutating func floats(_ count: Int, outliers: Bool = false) -> [Float] {
        (0..<count).map { i in
            let v = normal()
            return Float(outliers && i % 97 == 13 ? 100 * v : v)
        }
    }
}
