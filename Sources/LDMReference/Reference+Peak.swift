extension Reference {
    /// What peak.cl's `fma_peak` leaves for work-item `item`: the sum over `chains` chains and `lanes` lanes of
    /// `iterations` steps x ← x·a + b from item·1e-9 + 1e-3·lane + 0.1·chain, in Double from the same float32
    /// starting points (lane offsets only when lanes > 1).
    public static func fmaPeak(item: Int, chains: Int, lanes: Int, iterations: Int, a: Float, b: Float) -> Double {
        var total = 0.0
        for chain in 0..<chains {
            for lane in 0..<lanes {
                let laneOffset: Float = lanes == 1 ? 0 : 1e-3 * Float(lane)
                var x = Double(Float(item) * 1e-9 + laneOffset + Float(chain) * 0.1)
                for _ in 0..<iterations { x = x * Double(a) + Double(b) }
                total += x
            }
        }
        return total
    }
}
