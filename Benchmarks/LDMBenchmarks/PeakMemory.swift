import Foundation

/// The process's peak resident set size, for the "peak extra memory" of a benchmark case: the growth of this
/// number over the case (inputs included). Host memory only; an OpenCL device's memory is not counted.
enum PeakMemory {
    static func residentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }
}
