import Dispatch
import LDMEngine

/// Wall-clock timing of one case: warm up, then repeat until both `minSeconds` and `minRepeats` are reached.
/// Each repeat waits for the device (`synchronize`) so queued work is counted where it runs.
public enum Timing {
    public struct Result: Sendable {
        public let samples: [Double]
        public var median: Double {
            let sorted = samples.sorted()
            let mid = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid])
        }
        public var min: Double { samples.min() ?? 0 }
        public var max: Double { samples.max() ?? 0 }
    }

    public static func measure(_ backend: any Backend, minSeconds: Double, minRepeats: Int = 5,
                               _ body: () throws -> Void) throws -> Result {
        // Warm-up: program builds, CLBlast's kernel compilation, page faults, OpenBLAS thread start.
        try body()
        try backend.synchronize()
        var samples: [Double] = []
        var total = 0.0
        while total < minSeconds || samples.count < minRepeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            try backend.synchronize()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            samples.append(seconds)
            total += seconds
        }
        return Result(samples: samples)
    }
}
