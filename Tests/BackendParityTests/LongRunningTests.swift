import Foundation
import LDMCPU
import LDMEngine
import LDMReference
import Testing

/// End-to-end checks too slow for every CI run. Run with `LDM_LONG_TESTS=1 swift test -c release --filter LongRunning`.
@Suite("Long-running", .enabled(if: ProcessInfo.processInfo.environment["LDM_LONG_TESTS"] == "1",
                                "set LDM_LONG_TESTS=1 to run the long tests"))
struct LongRunningTests {
    /// The KDE entropy's forward and backward at B = 65 536, d = 128 on the CPU backend stays within ~1 GiB of
    /// extra memory: a B × B float matrix alone would be 16 GiB. Measured as the growth of the process's peak
    /// resident set over the two calls (inputs allocated before the baseline).
    @Test func kdeAtB65536StaysWithinOneGiB() throws {
        let cpu = try CPUBackend()
        let (rows, d) = (65_536, 128)
        var generator = SeededGenerator(seed: 65_536)
        let z = try cpu.upload(generator.floats(rows * d).map { $0 * 0.1 }, shape: [rows, d])
        let lse = try cpu.makeTensor([rows]), g = try cpu.upload([Float](repeating: -1 / Float(rows), count: rows), shape: [rows])
        let dx = try cpu.makeTensor([rows, d]), dy = try cpu.makeTensor([rows, d])
        for t in [lse, dx, dy] { try cpu.fill(t, with: 0) }   // touch the outputs before the baseline
        let before = peakResidentBytes()
        let shape = PairwiseLSEShape(rows: rows, columns: rows, dimension: d, kernel: .squaredDistance, scale: 5 / Float(d))
        try cpu.pairwiseLSE(z, z, into: lse, shape)
        try cpu.pairwiseLSEBackward(z, z, lse, g, dx: dx, dy: dy, shape)
        let growth = peakResidentBytes() - before
        print("KDE B = \(rows), d = \(d): peak resident growth \(LDMError.formatBytes(growth))")
        #expect(growth < 1 << 30, "extra memory \(LDMError.formatBytes(growth))")
        #expect(try cpu.download(lse).allSatisfy { $0.isFinite })
        #expect(try cpu.download(dx).allSatisfy { $0.isFinite })
    }

    func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }
}
