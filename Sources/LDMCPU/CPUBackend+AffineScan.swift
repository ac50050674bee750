import CBLAS
import LDMEngine

/// affine_scan (CPU twin of Kernels/affine_scan.cl): `x_t = A_t·x_{t−1} + u_t` over `[T, B, n]` rows, the rows
/// in groups that share each step's matrix.
///
/// With one chunk (the default here) the rows are split over the threads and each thread runs the sequential
/// recursion on its rows: no work is added. With several chunks the steps are split instead (the two-level scan
/// of ``AffineScanShape``): each chunk scans its steps from zero and, for its n unit vectors, the products
/// Π_t = A_t···A_s; the chunks' end states are carried over in order; then each step adds its carry times Π_t.
/// That costs about (2B + n)/B times the sequential arithmetic, so the CPU chooses one chunk unless asked. (Measured
/// at T = 10 000, B = 32, n = 16 on 2 cores, 100 chunks ran in 11.7 ms against 13.7 ms for one: each step's product
/// then covers every row instead of half of them per core, which outweighs the extra arithmetic at that size; the
/// default is not tuned by size yet. docs/benchmarks.md.)
extension CPUBackend {
    public func uncheckedAffineScan(_ u: Tensor, transitions: Tensor, initial: Tensor?, into x: Tensor, _ s: AffineScanShape) throws {
        let op = "affineScan \(s)"
        let pu = try floats(u, op), pa = try floats(transitions, op), px = try floats(x, op)
        let p0 = try initial.map { try floats($0, op) }
        let (steps, b, n, groups, perGroup) = (s.steps, s.batch, s.n, s.groups, s.rowsPerGroup)
        let (length, count) = s.chunking(s.chunks > 0 ? s.chunks : 1)
        let step = { (tau: Int) in s.reverse ? steps - 1 - tau : tau }
        let rows = ScanRows(transitions: pa, groups: groups, perGroup: perGroup, n: n, step: step, transposed: s.transposed)
        if count == 1 {
            let rowChunks = max(1, min(threads, b / 4))
            Parallel.run(rowChunks) { chunk in
                let range = (b * chunk / rowChunks)..<(b * (chunk + 1) / rowChunks)
                rows.scan(u: pu, start: p0.map { $0 + range.lowerBound * n }, states: px, rows: range, batch: b, taus: 0..<steps)
            }
            return
        }
        // Π_t of each group stored transposed, its rows the unit vectors' states: [T, G, n, n] (the first chunk's
        // steps unused), scanned as G·n rows of n per step, each group's n rows from the identity.
        let products = UnsafeMutablePointer<Float>.allocate(capacity: steps * groups * n * n)
        let carries = UnsafeMutablePointer<Float>.allocate(capacity: count * b * n)
        let identities = UnsafeMutablePointer<Float>.allocate(capacity: groups * n * n)
        defer { products.deallocate(); carries.deallocate(); identities.deallocate() }
        for e in 0..<(groups * n * n) { identities[e] = (e / n) % n == e % n ? 1 : 0 }
        let unitRows = ScanRows(transitions: pa, groups: groups, perGroup: n, n: n, step: step, transposed: s.transposed)
        Parallel.run(count) { k in
            let taus = (k * length)..<min(steps, (k + 1) * length)
            rows.scan(u: pu, start: k == 0 ? p0 : nil, states: px, rows: 0..<b, batch: b, taus: taus)
            if k > 0 {
                unitRows.scan(u: nil, start: identities, states: products, rows: 0..<(groups * n), batch: groups * n, taus: taus)
            }
        }
        // carry_1 = x at the first chunk's end (final); carry_k = local x + carry_{k−1}·Π at chunk k−1's end.
        for k in 1..<count {
            let last = step(k * length - 1), carry = carries + k * b * n
            carry.update(from: px + last * b * n, count: b * n)
            if k > 1 {
                for g in 0..<groups {
                    Self.addProduct(carries + (k - 1) * b * n + g * perGroup * n, products + (last * groups + g) * n * n,
                                    into: carry + g * perGroup * n, rows: perGroup, n: n)
                }
            }
        }
        Parallel.forChunks(steps - length, threads: threads, costPerItem: b * n * n) { range in
            for tau in (range.lowerBound + length)..<(range.upperBound + length) {
                let t = step(tau)
                for g in 0..<groups {
                    Self.addProduct(carries + (tau / length) * b * n + g * perGroup * n, products + (t * groups + g) * n * n,
                                    into: px + (t * b + g * perGroup) * n, rows: perGroup, n: n)
                }
            }
        }
    }

    /// The sequential recursion over rows whose step matrices come in groups: `transitions` is `[T, groups, n, n]`
    /// and row q uses group q / perGroup.
    struct ScanRows {
        let transitions: UnsafeMutablePointer<Float>
        let groups: Int, perGroup: Int, n: Int
        let step: (Int) -> Int
        let transposed: Bool

        /// `rows` of a `[T, batch, n]` state tensor over the steps `taus` (in scan order), from `start` (`[rows, n]`,
        /// zero when nil) and inputs u (zero when nil).
        func scan(u: UnsafeMutablePointer<Float>?, start: UnsafeMutablePointer<Float>?, states x: UnsafeMutablePointer<Float>,
                  rows: Range<Int>, batch b: Int, taus: Range<Int>) {
            guard !rows.isEmpty else { return }
            let r0 = rows.lowerBound, count = rows.count
            var previous: UnsafeMutablePointer<Float>? = start
            for tau in taus {
                let t = step(tau), out = x + (t * b + r0) * n
                if let u { out.update(from: u + (t * b + r0) * n, count: count * n) } else { out.update(repeating: 0, count: count * n) }
                if let previous {
                    // The rows of one group at a time share A_t.
                    var first = r0
                    while first < rows.upperBound {
                        let group = first / perGroup, end = min(rows.upperBound, (group + 1) * perGroup)
                        CPUBackend.addTransitionProduct(previous + (first - r0) * n, transitions + (t * groups + group) * n * n,
                                                        into: out + (first - r0) * n, rows: end - first, n: n,
                                                        transposed: transposed)
                        first = end
                    }
                }
                previous = out
            }
        }
    }

    /// The row form of one step, `out += x·A_tᵀ` (or `x·A_t` when transposed), for `rows` rows of n.
    static func addTransitionProduct(_ x: UnsafeMutablePointer<Float>, _ at: UnsafeMutablePointer<Float>,
                                     into out: UnsafeMutablePointer<Float>, rows: Int, n: Int, transposed: Bool) {
        if n >= 16 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transposed ? CblasNoTrans : CblasTrans, Int32(rows), Int32(n),
                        Int32(n), 1, x, Int32(n), at, Int32(n), 1, out, Int32(n))
        } else if transposed {
            addProduct(x, at, into: out, rows: rows, n: n)
        } else {
            for r in 0..<rows {
                let p = x + r * n, o = out + r * n
                for i in 0..<n {
                    var v = o[i]
                    for j in 0..<n { v += at[i * n + j] * p[j] }
                    o[i] = v
                }
            }
        }
    }

    /// `out += x·M` for `rows` rows of n (M n × n, row-major).
    static func addProduct(_ x: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>,
                           rows: Int, n: Int) {
        if n >= 16 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(n), Int32(n), 1, x, Int32(n), m, Int32(n),
                        1, out, Int32(n))
            return
        }
        for r in 0..<rows {
            let p = x + r * n, o = out + r * n
            for j in 0..<n {
                let v = p[j], row = m + j * n
                for i in 0..<n { o[i] += v * row[i] }
            }
        }
    }
}
