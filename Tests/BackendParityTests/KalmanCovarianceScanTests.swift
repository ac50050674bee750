import Foundation
import LDMEngine
import LDMReference
import Testing

/// The time-parallel covariance recursion (kalman_scan.cl and kalman_covariance_forward split into chunks; CPU
/// twins in CPUBackend+KalmanScan.swift) on every backend: every tape tensor against the sequential recursion and
/// P_t against a Double recursion, for observation noise shared, per group, per step (full and log-diagonal),
/// T from 1 to 4097 split into 1…T chunks, and T = 100 000; the Kalman-LDM reverse pass in chunks against the
/// sequential one; a singular Q is refused by name.
@Suite("kalman_scan.cl")
struct KalmanCovarianceScanTests {
    /// A covariance problem: `largeModel`'s F, H, Q and P0 = I, with R per (group, step) as asked.
    struct Problem {
        let n: Int, m: Int, groups: Int, steps: Int
        let f: [Float], h: [Float], q: [Float], r: [Float]
        /// R as stored: full m × m matrices or m log-variances, for `rGroups` groups and `rSteps` steps.
        let rGroups: Int, rSteps: Int, logDiagonal: Bool

        init(n: Int, m: Int, groups: Int, steps: Int, selection: Bool, rGroups: Int, rSteps: Int, logDiagonal: Bool,
             seed: UInt64) throws {
            let model = try KalmanTests.largeModel(n: n, m: m, selection: selection, seed: seed)
            (self.n, self.m, self.groups, self.steps) = (n, m, groups, steps)
            (f, h, q) = (model.F, model.H, model.Q)
            (self.rGroups, self.rSteps, self.logDiagonal) = (rGroups, rSteps, logDiagonal)
            var generator = SeededGenerator(seed: seed + 7)
            // Noise that moves from step to step: log-variances log 0.2 + N(0, 1), or R's diagonal times e^{0.4·N(0, 1)}.
            r = (0..<(rGroups * rSteps)).flatMap { _ -> [Float] in
                let wobble = generator.floats(m)
                if logDiagonal { return wobble.map { log(0.2) + $0 } }
                return (0..<(m * m)).map { e in
                    e / m == e % m ? model.R[e] * Foundation.exp(0.4 * wobble[e / m]) : model.R[e]
                }
            }
        }

        func inputs(on backend: any Backend) throws -> KalmanCovarianceInputs {
            let noise: KalmanObservationNoise = logDiagonal
                ? .logDiagonal(try backend.upload(r, shape: [rGroups, rSteps, m]), groups: rGroups, steps: rSteps, extra: 0)
                : .full(try backend.upload(r, shape: [rGroups, rSteps, m, m]), groups: rGroups, steps: rSteps)
            let identity = (0..<(n * n)).map { $0 / n == $0 % n ? Float(1) : 0 }
            return KalmanCovarianceInputs(F: try backend.upload(f, shape: [n, n]), H: try backend.upload(h, shape: [m, n]),
                                          Q: try backend.upload(q, shape: [1, n, n]), qGroups: 1, R: noise,
                                          P0: try backend.upload(identity, shape: [n, n]), groups: groups, steps: steps, n: n, m: m)
        }

        /// R_{g,t} in Double.
        func noise(group: Int, step: Int) -> [Double] {
            let at = (rGroups == 1 ? 0 : group) * rSteps + (rSteps == 1 ? 0 : step)
            guard logDiagonal else { return r[(at * m * m)..<((at + 1) * m * m)].map(Double.init) }
            return (0..<(m * m)).map { $0 / m == $0 % m ? Foundation.exp(Double(r[at * m + $0 / m])) : 0 }
        }

        /// P_t of every (step, group) by the Double recursion, [T, G, n, n].
        func referenceFiltered() -> [Double] {
            let identity = (0..<(n * n)).map { $0 / n == $0 % n ? 1.0 : 0 }
            let perGroup = (0..<groups).map { g in
                Reference.kalmanFilteredCovariances(F: f.map(Double.init), H: h.map(Double.init), Q: q.map(Double.init), P0: identity,
                                                    steps: steps) { noise(group: g, step: $0) }
            }
            return (0..<steps).flatMap { t in (0..<groups).flatMap { perGroup[$0][t] } }
        }
    }

    static func tape(_ backend: any Backend, _ p: Problem, chunks: Int) throws -> [String: [Float]] {
        let tape = try KalmanCovarianceTape(groups: p.groups, steps: p.steps, n: p.n, m: p.m, on: backend)
        _ = try backend.kalmanCovarianceForward(try p.inputs(on: backend), into: tape, chunks: chunks)
        return ["predicted": try backend.download(tape.predicted), "filtered": try backend.download(tape.filtered),
                "innovation": try backend.download(tape.innovation), "factors": try backend.download(tape.factors),
                "gains": try backend.download(tape.gains), "log det S": try backend.download(tape.logDeterminants)]
    }

    static func compare(_ backend: any Backend, _ p: Problem, chunks: [Int], tolerance: Double, reference: Bool, _ label: String) throws {
        let sequential = try tape(backend, p, chunks: 1)
        let expected = reference ? p.referenceFiltered() : []
        if reference {
            expectClose(sequential["filtered"]!, expected, tolerance: 1e-4, "sequential P_t vs Double \(label)")
        }
        for c in chunks {
            let parallel = try tape(backend, p, chunks: c)
            for (name, values) in sequential.sorted(by: { $0.key < $1.key }) {
                let error = KalmanTimeParallelTests.difference(parallel[name]!, values)
                #expect(error <= tolerance, "\(name): relative difference \(error) with \(c) chunks \(label)")
            }
            if reference {
                expectClose(parallel["filtered"]!, expected, tolerance: 1e-4, "P_t vs Double with \(c) chunks \(label)")
            }
        }
    }

    @Test(arguments: TestBackends.all)
    func chunksMatchTheSequentialRecursion(_ name: String) throws {
        let backend = try TestBackends.named(name)
        // (G, T, n, m, H = [I 0], R groups, R steps, log-diagonal, chunk counts)
        let cases: [(Int, Int, Int, Int, Bool, Int, Int, Bool, [Int])] = [
            (1, 1, 2, 1, false, 1, 1, false, [1, 2]),
            (2, 2, 3, 2, false, 2, 2, false, [2]),
            (2, 17, 3, 2, false, 2, 17, false, [2, 3, 17]),
            (3, 100, 4, 2, true, 3, 100, true, [7, 10, 100]),
            (1, 333, 16, 6, false, 1, 333, false, [18]),
            (2, 64, 5, 5, true, 1, 1, false, [8]),
            (2, 4097, 3, 1, false, 2, 4097, true, [64])]
        for (g, t, n, m, selection, rg, rt, logDiagonal, chunks) in cases {
            let p = try Problem(n: n, m: m, groups: g, steps: t, selection: selection, rGroups: rg, rSteps: rt,
                                logDiagonal: logDiagonal, seed: UInt64(t * 7 + n))
            try Self.compare(backend, p, chunks: chunks, tolerance: 1e-5, reference: t <= 333,
                             "G \(g) T \(t) n \(n) m \(m)\(selection ? " H = [I 0]" : "") R [\(rg), \(rt)]\(logDiagonal ? " log-diagonal" : "") on \(name)")
        }
    }

    /// At T = 100 000 the chunked recursion stays within 1e-4 of the sequential one.
    @Test(arguments: TestBackends.all)
    func aHundredThousandStepsAgree(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let p = try Problem(n: 4, m: 2, groups: 2, steps: 100_000, selection: false, rGroups: 2, rSteps: 100_000,
                            logDiagonal: true, seed: 3)
        try Self.compare(backend, p, chunks: [317], tolerance: 1e-4, reference: false, "T 100000 on \(name)")
    }

    /// The Kalman-LDM reverse pass through the covariances in chunks (affine in P̄: chunks from zero, starts carried
    /// back, every chunk rerun) against the sequential pass, seeded with random C̄₀ and S̄₀ on a tape of the
    /// loss's form (H = [I 0], diagonal Q, log-diagonal noise per step and group).
    @Test(arguments: TestBackends.all)
    func reverseChunksMatchTheSequentialPass(_ name: String) throws {
        let backend = try TestBackends.named(name)
        for (g, t, n, m, chunks) in [(1, 1, 2, 1, [1]), (2, 17, 3, 2, [2, 3, 17]), (3, 100, 4, 2, [7, 10]), (2, 1000, 16, 8, [32])] {
            let p = try Problem(n: n, m: m, groups: g, steps: t, selection: true, rGroups: g, rSteps: t, logDiagonal: true,
                                seed: UInt64(t + n))
            var x = try p.inputs(on: backend)
            x.Q = try backend.upload((0..<(n * n)).map { $0 / n == $0 % n ? 0.05 + 0.01 * Float($0 / n) : 0 }, shape: [1, n, n])
            let tape = try KalmanCovarianceTape(groups: g, steps: t, n: n, m: m, on: backend)
            _ = try backend.kalmanCovarianceForward(x, into: tape)
            var generator = SeededGenerator(seed: UInt64(t))
            let seedC = try backend.upload(generator.floats(t * g * n * m).map { 0.1 * $0 }, shape: [t, g, n, m])
            let seedS = try backend.upload(generator.floats(t * g * m * m).map { 0.1 * $0 }, shape: [t, g, m, m])
            let gradients = { (chunks: Int) throws -> [String: [Float]] in
                let out = try KalmanLDMCovarianceGradients(groups: g, steps: t, n: n, m: m, on: backend)
                try backend.kalmanLDMCovarianceBackward(x, tape, seedC: seedC, seedS: seedS, sequencesPerGroup: 2, into: out, chunks: chunks)
                return ["∂/∂A": try backend.download(out.gradA), "∂/∂log Q": try backend.download(out.gradLogQ),
                        "∂/∂log R": try backend.download(out.gradLogR)]
            }
            let sequential = try gradients(1)
            for c in chunks {
                for (what, values) in try gradients(c) {
                    let error = KalmanTimeParallelTests.difference(values, sequential[what]!)
                    #expect(error <= 1e-5, "\(what): relative difference \(error) with \(c) chunks, G \(g) T \(t) n \(n) m \(m) on \(name)")
                }
            }
        }
    }

    /// A singular Q cannot be combined (the scan factors prefix covariances built from it): a typed error naming
    /// the scan, while the sequential recursion runs.
    @Test(arguments: TestBackends.all)
    func singularProcessNoiseIsRefused(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let p = try Problem(n: 3, m: 1, groups: 1, steps: 12, selection: false, rGroups: 1, rSteps: 12, logDiagonal: true, seed: 2)
        var x = try p.inputs(on: backend)
        x.Q = try backend.upload([Float](repeating: 0, count: 9), shape: [1, 3, 3])
        let tape = try KalmanCovarianceTape(groups: 1, steps: 12, n: 3, m: 1, on: backend)
        _ = try backend.kalmanCovarianceForward(x, into: tape, chunks: 1)
        do {
            _ = try backend.kalmanCovarianceForward(x, into: tape, chunks: 3)
            Issue.record("a singular Q was combined on \(name)")
        } catch let error as LDMError {
            #expect("\(error)".contains("time-parallel"), "\(error)")
        }
        #expect(throws: LDMError.self) { try backend.kalmanCovarianceForward(x, into: tape, chunks: 0) }
    }
}
