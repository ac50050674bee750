import Foundation
import LDMEngine
import LDMReference
import Testing

/// affine_scan.cl on every backend: the recursion against its Double reference for every direction, with and
/// without an initial state, sequential and split into chunks (lengths that do not divide T), and its gradient:
/// the adjoint is the same kernel run backwards with the transitions transposed and shifted by a step, checked
/// against central differences of the reference.
@Suite("affine_scan.cl")
struct AffineScanTests {
    /// Stable transitions A_t = 0.6·I + 0.3·N(0, 1)/√n (spectral radius about 0.9), so long scans neither blow up
    /// nor vanish.
    static func transitions(_ generator: inout SeededGenerator, steps: Int, n: Int) -> [Float] {
        let noise = generator.floats(steps * n * n)
        return (0..<(steps * n * n)).map { e in
            (e % (n * n)) / n == e % n ? 0.6 + 0.3 * noise[e] / Float(n).squareRoot() : 0.3 * noise[e] / Float(n).squareRoot()
        }
    }

    @Test(arguments: TestBackends.all)
    func scansMatchTheReference(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0x5ca9)
        for (steps, b, n) in [(1, 3, 2), (2, 1, 1), (7, 4, 3), (64, 5, 16), (333, 3, 4), (97, 2, 20)] {
            let u = generator.floats(steps * b * n), a = Self.transitions(&generator, steps: steps, n: n)
            let start = generator.floats(b * n)
            let tu = try backend.upload(u, shape: [steps, b, n]), ta = try backend.upload(a, shape: [steps, n, n])
            let tStart = try backend.upload(start, shape: [b, n]), x = try backend.makeTensor([steps, b, n])
            for chunks in Set([0, 1, 2, 3, 5, steps]) {
                for (reverse, transposed) in [(false, false), (true, false), (false, true), (true, true)] {
                    for initial in [nil, start] {
                        let shape = AffineScanShape(steps: steps, batch: b, n: n, reverse: reverse, transposed: transposed, chunks: chunks)
                        try backend.affineScan(tu, transitions: ta, initial: initial == nil ? nil : tStart, into: x, shape)
                        expectClose(try backend.download(x), Reference.affineScan(u, transitions: a, initial: initial, shape),
                                    tolerance: Tolerance.float32, "affineScan \(shape)\(initial == nil ? "" : " from x0") on \(name)")
                    }
                }
            }
        }
        let small = try backend.makeTensor([2, 1, 2]), square = try backend.makeTensor([2, 2, 2])
        #expect(throws: LDMError.self) {
            try backend.affineScan(small, transitions: square, into: small, AffineScanShape(steps: 2, batch: 1, n: 2))
        }
        #expect(throws: LDMError.self) {
            try backend.affineScan(small, transitions: small, into: try backend.makeTensor([2, 1, 2]), AffineScanShape(steps: 2, batch: 1, n: 2))
        }
        #expect(throws: LDMError.self) {
            try backend.affineScan(small, transitions: square, into: try backend.makeTensor([4]), AffineScanShape(steps: Int.max / 2, batch: 3, n: 2))
        }
    }

    /// Rows in groups with their own matrices (per-sequence Kalman covariances): G = 2 of 3 rows each, G = B (every
    /// row its own) and G = 1 through the same path, sequential and in chunks, every direction, against the
    /// reference; a batch that the groups do not divide is refused.
    @Test(arguments: TestBackends.all)
    func groupedScansMatchTheReference(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0x6a0b)
        for (steps, b, n, groups) in [(1, 4, 2, 4), (9, 6, 3, 2), (57, 5, 4, 5), (130, 4, 17, 2), (41, 3, 2, 1)] {
            let u = generator.floats(steps * b * n), a = Self.transitions(&generator, steps: steps * groups, n: n)
            let start = generator.floats(b * n)
            let tu = try backend.upload(u, shape: [steps, b, n]), ta = try backend.upload(a, shape: [steps, groups, n, n])
            let tStart = try backend.upload(start, shape: [b, n]), x = try backend.makeTensor([steps, b, n])
            for chunks in Set([1, 3, steps]) {
                for (reverse, transposed) in [(false, false), (true, false), (false, true), (true, true)] {
                    let shape = AffineScanShape(steps: steps, batch: b, n: n, reverse: reverse, transposed: transposed,
                                                chunks: chunks, groups: groups)
                    try backend.affineScan(tu, transitions: ta, initial: tStart, into: x, shape)
                    expectClose(try backend.download(x), Reference.affineScan(u, transitions: a, initial: start, shape),
                                tolerance: Tolerance.float32, "affineScan \(shape) on \(name)")
                }
            }
        }
        let u = try backend.makeTensor([2, 3, 2]), a = try backend.makeTensor([2, 2, 2, 2])
        #expect(throws: LDMError.self, "3 rows do not split into 2 groups") {
            try backend.affineScan(u, transitions: a, into: try backend.makeTensor([2, 3, 2]),
                                   AffineScanShape(steps: 2, batch: 3, n: 2, groups: 2))
        }
    }

    /// L = Σ_t ⟨w_t, x_t⟩. Its adjoint λ_t = w_t + A_{t+1}ᵀ·λ_{t+1} is a reverse, transposed scan whose step t
    /// reads A_{t+1}; then ∂L/∂u_t = λ_t, ∂L/∂A_t = Σ_q λ_t,q·x_{t−1,q}ᵀ and ∂L/∂x_init = A_0ᵀ·λ_0.
    @Test(arguments: TestBackends.all)
    func itsAdjointIsTheGradient(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0xad70)
        let (steps, b, n) = (23, 3, 4)
        let u = generator.floats(steps * b * n), a = Self.transitions(&generator, steps: steps, n: n)
        let start = generator.floats(b * n), w = generator.floats(steps * b * n)
        let shape = AffineScanShape(steps: steps, batch: b, n: n)
        func loss(_ u: [Double], _ a: [Double], _ start: [Double]) -> Double {
            zip(Reference.affineScan(u, transitions: a, initial: start, shape), w).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let shifted = Array(a[(n * n)...]) + [Float](repeating: 0, count: n * n)
        for chunks in [1, 4] {
            let lambda = try backend.makeTensor([steps, b, n])
            try backend.affineScan(try backend.upload(w, shape: [steps, b, n]), transitions: try backend.upload(shifted, shape: [steps, n, n]),
                                   into: lambda, AffineScanShape(steps: steps, batch: b, n: n, reverse: true, transposed: true, chunks: chunks))
            let l = try backend.download(lambda).map { Double($0) }
            let x = Reference.affineScan(u, transitions: a, initial: start, shape)
            let (du, dw) = (u.map { Double($0) }, a.map { Double($0) }), ds = start.map { Double($0) }
            let h = 1e-6
            for e in stride(from: 0, to: u.count, by: 7) {
                var plus = du, minus = du
                plus[e] += h
                minus[e] -= h
                let numeric = (loss(plus, dw, ds) - loss(minus, dw, ds)) / (2 * h)
                #expect(abs(numeric - l[e]) <= Tolerance.gradient * max(1, abs(numeric)), "∂L/∂u[\(e)] \(l[e]) vs \(numeric) on \(name)")
            }
            for e in stride(from: 0, to: a.count, by: 5) {
                let (t, i, j) = (e / (n * n), (e / n) % n, e % n)
                var analytic = 0.0
                for q in 0..<b {
                    let previous = t == 0 ? ds[q * n + j] : x[((t - 1) * b + q) * n + j]
                    analytic += l[(t * b + q) * n + i] * previous
                }
                var plus = dw, minus = dw
                plus[e] += h
                minus[e] -= h
                let numeric = (loss(du, plus, ds) - loss(du, minus, ds)) / (2 * h)
                #expect(abs(numeric - analytic) <= Tolerance.gradient * max(1, abs(numeric)), "∂L/∂A[\(e)] \(analytic) vs \(numeric) on \(name)")
            }
            for e in 0..<start.count {
                let (q, j) = (e / n, e % n)
                let analytic = (0..<n).reduce(0.0) { $0 + dw[$1 * n + j] * l[q * n + $1] }
                var plus = ds, minus = ds
                plus[e] += h
                minus[e] -= h
                let numeric = (loss(du, dw, plus) - loss(du, dw, minus)) / (2 * h)
                #expect(abs(numeric - analytic) <= Tolerance.gradient * max(1, abs(numeric)), "∂L/∂x0[\(e)] \(analytic) vs \(numeric) on \(name)")
            }
        }
    }
}
