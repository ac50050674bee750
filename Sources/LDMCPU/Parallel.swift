import Dispatch

/// Splits independent work across the cores.
///
/// Kernel bodies capture raw pointers and write disjoint ranges of them, which the compiler cannot prove
/// safe; this helper is the one place that vouches for it, so kernels stay free of concurrency annotations.
enum Parallel {
    /// Calls `body(i)` for every `i` in `0..<iterations`, concurrently.
    static func run(_ iterations: Int, _ body: (Int) -> Void) {
        guard iterations > 1 else {
            if iterations == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let shared = body
            DispatchQueue.concurrentPerform(iterations: iterations) { shared($0) }
        }
    }

    /// Calls `body` on disjoint chunks covering `0..<count`: in parallel when there is enough work
    /// (`count · costPerItem` above ~64k operations), serially otherwise, where threads would cost more than
    /// they save.
    static func forChunks(_ count: Int, threads: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let work = count * max(1, costPerItem)
        let chunks = min(count, work < 1 << 16 ? 1 : threads * 4)
        run(chunks) { chunk in
            let start = count * chunk / chunks, end = count * (chunk + 1) / chunks
            if start < end { body(start..<end) }
        }
    }
}
