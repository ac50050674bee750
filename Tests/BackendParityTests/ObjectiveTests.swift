import Foundation
import LDMEngine
import LDMObjectives
import LDMReference
import LDMTraining
import Testing

/// Objectives against Double compositions of the Double references (values) and central finite differences of
/// them (gradients of the loss), on every backend.
@Suite("Objectives")
struct ObjectiveTests {
    static let (rows, d) = (6, 3)

    struct Case: Sendable, CustomStringConvertible {
        let objective: any Objective
        let reference: @Sendable ([Double], [Double]) -> Double   // the loss in Double
        var description: String { objective.name }
    }

    static func concat(_ a: [Double], _ b: [Double], d: Int) -> [Double] {
        var out: [Double] = []
        for i in 0..<(a.count / d) {
            out += a[(i * d)..<((i + 1) * d)]
            out += b[(i * d)..<((i + 1) * d)]
        }
        return out
    }

    static let cases: [Case] = [
        Case(objective: LDMObjective(latent: .sphere(precision: 5), entropy: .kde(precision: 5), variant: .mi())) { z1, z2 in
            -(Reference.sphereAlignment(z1, z2, d: d, precision: 5)
              + Reference.kdeEntropy(z1, d: d, kernel: .vonMisesFisher, precision: 5)
              + Reference.kdeEntropy(z2, d: d, kernel: .vonMisesFisher, precision: 5))
        },
        // The joint rows [ẑ1 ‖ ẑ2] are not renormalised: K_ij = exp(κ_k·(⟨ẑ1_i, ẑ1_j⟩ + ⟨ẑ2_i, ẑ2_j⟩)).
        Case(objective: LDMObjective(latent: .sphere(precision: 2), entropy: .kde(precision: 3, leaveOneOut: true), variant: .ldm)) { z1, z2 in
            -(Reference.sphereAlignment(z1, z2, d: d, precision: 2)
              + Reference.sphereJointKDEEntropy(z1, z2, d: d, precision: 3, leaveOneOut: true))
        },
        Case(objective: LDMObjective(latent: .sphere(precision: 5), entropy: .kde(precision: 5), variant: .ldm)) { z1, z2 in
            -(Reference.sphereAlignment(z1, z2, d: d, precision: 5) + Reference.sphereJointKDEEntropy(z1, z2, d: d, precision: 5))
        },
        Case(objective: LDMObjective(latent: .plane(precision: 5), entropy: .kde(precision: 5), variant: .ldm)) { z1, z2 in
            -(Reference.planeAlignment(z1, z2, d: d, precision: 5)
              + Reference.kdeEntropy(concat(z1, z2, d: d), d: 2 * d, kernel: .gaussian, precision: 5))
        },
        Case(objective: LDMObjective(latent: .plane(precision: 1.5), entropy: .kde(precision: 4), variant: .mi(multiplier: 1))) { z1, z2 in
            -(Reference.planeAlignment(z1, z2, d: d, precision: 1.5)
              + 0.5 * Reference.kdeEntropy(z1, d: d, kernel: .gaussian, precision: 4)
              + 0.5 * Reference.kdeEntropy(z2, d: d, kernel: .gaussian, precision: 4))
        },
        Case(objective: LDMObjective(latent: .sphere(precision: 5), entropy: .none, variant: .ldm)) { z1, z2 in
            -Reference.sphereAlignment(z1, z2, d: d, precision: 5)
        },
        Case(objective: NTXent(temperature: 0.2)) { z1, z2 in Reference.ntXentLoss(z1, z2, d: d, temperature: 0.2) },
        Case(objective: LDMObjective(latent: .gaussian(variance: 0.5), entropy: .kde(precision: 2), variant: .mi())) { z1, z2 in
            // −mean_i ‖z1 − z2‖²/(2σ²) with σ² = 0.5, plus the Gaussian-kernel KDE of each view.
            let squared = zip(z1, z2).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            return -(-squared / (2 * 0.5) / Double(rows)
                     + Reference.kdeEntropy(z1, d: d, kernel: .gaussian, precision: 2)
                     + Reference.kdeEntropy(z2, d: d, kernel: .gaussian, precision: 2))
        },
    ]

    /// BYOL / stop-gradient: −mean cos(z1, sg[z2]); z2 gets no gradient.
    @Test(arguments: TestBackends.all)
    func stopGradientDetachesTheTarget(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 81)
        let host1 = generator.floats(Self.rows * Self.d), host2 = generator.floats(Self.rows * Self.d)
        let z1 = try backend.upload(host1, shape: [Self.rows, Self.d]), z2 = try backend.upload(host2, shape: [Self.rows, Self.d])
        let byol = LDMObjective(latent: .sphere(precision: 1), entropy: .stopGradient, variant: .ldm)
        let result = try byol.evaluate(z1, z2, on: backend)
        let a = host1.map(Double.init), b = host2.map(Double.init)
        let reference = { (x: [Double]) in -Reference.sphereAlignment(x, b, d: Self.d, precision: 1) }
        #expect(abs(result.value.loss - reference(a)) <= 1e-6)
        #expect(result.value.entropy == 0)
        expectClose(try backend.download(result.dz1), finiteDifferenceGradient(a, reference),
                    tolerance: Tolerance.gradient, "∂loss/∂z1 byol on \(name)")
        #expect(try backend.download(result.dz2).allSatisfy { $0 == 0 }, "the target is detached")
    }

    @Test(arguments: TestBackends.all, cases)
    func valueAndGradientsMatchTheReference(_ name: String, _ c: Case) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 77)
        let host1 = generator.floats(Self.rows * Self.d), host2 = generator.floats(Self.rows * Self.d)
        let z1 = try backend.upload(host1, shape: [Self.rows, Self.d]), z2 = try backend.upload(host2, shape: [Self.rows, Self.d])
        let result = try c.objective.evaluate(z1, z2, on: backend)
        let a = host1.map(Double.init), b = host2.map(Double.init)
        let expected = c.reference(a, b)
        #expect(abs(result.value.loss - expected) <= 1e-5 * max(1, abs(expected)),
                "\(c) on \(name): loss \(result.value.loss), reference \(expected)")
        #expect(abs(result.value.loss + result.value.alignment + result.value.entropy) <= 1e-9 * max(1, abs(expected)),
                "loss = −(alignment + entropy)")
        expectClose(try backend.download(result.dz1), finiteDifferenceGradient(a) { c.reference($0, b) },
                    tolerance: Tolerance.gradient, "∂loss/∂z1 \(c) on \(name)")
        expectClose(try backend.download(result.dz2), finiteDifferenceGradient(b) { c.reference(a, $0) },
                    tolerance: Tolerance.gradient, "∂loss/∂z2 \(c) on \(name)")
    }

    static let covarianceCases: [Case] = [
        Case(objective: LDMObjective(latent: .plane(precision: 5), entropy: .logdet(), variant: .ldm)) { z1, z2 in
            -(Reference.planeAlignment(z1, z2, d: 3, precision: 5) + Reference.gaussianLogDetEntropy(z1 + z2, d: 3)!)
        },
        Case(objective: LDMObjective(latent: .sphere(precision: 2), entropy: .logdet(form: .concatenated), variant: .ldm)) { z1, z2 in
            let joint = concat(Reference.normalizedRows(z1, d: 3), Reference.normalizedRows(z2, d: 3), d: 3)
            return -(Reference.sphereAlignment(z1, z2, d: 3, precision: 2) + Reference.gaussianLogDetEntropy(joint, d: 6)!)
        },
        Case(objective: VICReg()) { z1, z2 in
            // lightly's VICRegLoss: 25·MSE + 25·½(V1 + V2) + 1·(C1 + C2)
            let mse = zip(z1, z2).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(z1.count)
            let (v1, c1) = Reference.vicregTerms(z1, d: 3), (v2, c2) = Reference.vicregTerms(z2, d: 3)
            return 25 * mse + 25 * 0.5 * (v1 + v2) + (c1 + c2)
        },
        Case(objective: BarlowTwins(lambda: 0.1)) { z1, z2 in Reference.barlowTwinsLoss(z1, z2, d: 3, lambda: 0.1) },
        Case(objective: LDMObjective(latent: .plane(precision: 5), entropy: .taylor(), variant: .ldm)) { z1, z2 in
            -(Reference.planeAlignment(z1, z2, d: 3, precision: 5) + Reference.taylorLogDet(z1 + z2, d: 3))
        },
        Case(objective: LDMObjective(latent: .sphere(precision: 3), entropy: .vicreg(), variant: .mi())) { z1, z2 in
            let (v1, c1) = Reference.vicregTerms(Reference.normalizedRows(z1, d: 3), d: 3)
            let (v2, c2) = Reference.vicregTerms(Reference.normalizedRows(z2, d: 3), d: 3)
            return -(Reference.sphereAlignment(z1, z2, d: 3, precision: 3) - (25 * v1 + c1) - (25 * v2 + c2))
        },
        Case(objective: LDMObjective(latent: .plane(precision: 1), entropy: .logdet(), variant: .mi())) { z1, z2 in
            -(Reference.planeAlignment(z1, z2, d: 3, precision: 1)
              + Reference.gaussianLogDetEntropy(z1, d: 3)! + Reference.gaussianLogDetEntropy(z2, d: 3)!)
        },
    ]

    /// Covariance-based objectives (log-det, Taylor, VICReg, Barlow Twins) on every backend (10 × 3 views, so
    /// every covariance, 6 × 6 included, has full rank).
    @Test(arguments: TestBackends.all, covarianceCases)
    func covarianceObjectivesMatchTheReference(_ name: String, _ c: Case) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 78)
        let host1 = generator.floats(30), host2 = generator.floats(30)
        let z1 = try backend.upload(host1, shape: [10, 3]), z2 = try backend.upload(host2, shape: [10, 3])
        let result = try c.objective.evaluate(z1, z2, on: backend)
        let a = host1.map(Double.init), b = host2.map(Double.init)
        let expected = c.reference(a, b)
        #expect(abs(result.value.loss - expected) <= 1e-5 * max(1, abs(expected)), "\(c) on \(name): \(result.value.loss) vs \(expected)")
        expectClose(try backend.download(result.dz1), finiteDifferenceGradient(a) { c.reference($0, b) },
                    tolerance: Tolerance.gradient, "∂loss/∂z1 \(c) on \(name)")
        expectClose(try backend.download(result.dz2), finiteDifferenceGradient(b) { c.reference(a, $0) },
                    tolerance: Tolerance.gradient, "∂loss/∂z2 \(c) on \(name)")
    }

    /// kNN objectives on every backend. The estimator detaches its quantile cap, so the reference holds each cap
    /// at its value for the unperturbed input; and finite differences are only meaningful where the estimator is
    /// differentiable, so the test first requires every ρ to stay clear of the cap and of a neighbour switch.
    @Test(arguments: TestBackends.all, [false, true])
    func knnObjectivesMatchTheReference(_ name: String, _ joint: Bool) throws {
        let backend = try TestBackends.named(name)
        let (rows, d) = (20, 3)
        var generator = SeededGenerator(seed: 80)
        let host1 = generator.floats(rows * d), host2 = generator.floats(rows * d)
        let a = host1.map(Double.init), b = host2.map(Double.init)
        let objective = joint
            ? LDMObjective(latent: .sphere(precision: 5), entropy: .knn(k: 3), variant: .ldm)
            : LDMObjective(latent: .plane(precision: 2), entropy: .knn(k: 2, scale: .dimension), variant: .mi())
        let k = joint ? 3 : 2
        let sets = joint ? [Self.concat(Reference.normalizedRows(a, d: d), Reference.normalizedRows(b, d: d), d: d)] : [a, b]
        let width = joint ? 2 * d : d
        var caps: [Double] = []
        for set in sets {
            let rho = Reference.knnDistances(set, d: width, k: k)
            let cap = Reference.quantile(rho, 0.9)
            let next = Reference.knnDistances(set, d: width, k: k + 1)
            try #require(rho.allSatisfy { abs($0 - cap) > 1e-4 }, "input at the clip's kink: pick another seed")
            try #require(zip(rho, next).allSatisfy { $1 - $0 > 1e-4 }, "input at a neighbour switch: pick another seed")
            caps.append(cap)
        }
        let reference = { (z1: [Double], z2: [Double]) -> Double in
            if joint {
                let u = Self.concat(Reference.normalizedRows(z1, d: d), Reference.normalizedRows(z2, d: d), d: d)
                return -(Reference.sphereAlignment(z1, z2, d: d, precision: 5)
                         + Reference.knnEntropy(u, d: 2 * d, k: 3, cap: caps[0]))
            }
            return -(Reference.planeAlignment(z1, z2, d: d, precision: 2)
                     + Reference.knnEntropy(z1, d: d, k: 2, scale: Double(d), cap: caps[0])
                     + Reference.knnEntropy(z2, d: d, k: 2, scale: Double(d), cap: caps[1]))
        }
        let z1 = try backend.upload(host1, shape: [rows, d]), z2 = try backend.upload(host2, shape: [rows, d])
        let result = try objective.evaluate(z1, z2, on: backend)
        let expected = reference(a, b)
        #expect(abs(result.value.loss - expected) <= 1e-5 * max(1, abs(expected)), "\(objective.name)")
        expectClose(try backend.download(result.dz1), finiteDifferenceGradient(a, step: 1e-6) { reference($0, b) },
                    tolerance: Tolerance.gradient, "∂loss/∂z1 \(objective.name)")
        expectClose(try backend.download(result.dz2), finiteDifferenceGradient(b, step: 1e-6) { reference(a, $0) },
                    tolerance: Tolerance.gradient, "∂loss/∂z2 \(objective.name)")
    }

    /// The stop-gradient diagnostic: cos(−∂A/∂z2, ∂Ĥ_kNN/∂z2) against Double (plane model, so −∂A/∂z2 =
    /// −2κ/(d·B)·(z1 − z2); the kNN gradient by finite differences at a differentiable point).
    @Test(arguments: TestBackends.all)
    func stopGradientDiagnosticMatchesTheReference(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let (rows, d, kappa) = (20, 3, 2.0)
        var generator = SeededGenerator(seed: 80)
        let host1 = generator.floats(rows * d), host2 = generator.floats(rows * d)
        let z2 = host2.map(Double.init)
        let rho = Reference.knnDistances(z2, d: d, k: 3), cap = Reference.quantile(rho, 0.9)
        let next = Reference.knnDistances(z2, d: d, k: 4)
        try #require(rho.allSatisfy { abs($0 - cap) > 1e-4 } && zip(rho, next).allSatisfy { $1 - $0 > 1e-4 },
                     "input at a kink of the kNN estimator: pick another seed")
        let entropyGradient = finiteDifferenceGradient(z2, step: 1e-6) { Reference.knnEntropy($0, d: d, k: 3, cap: cap) }
        let direction = (0..<(rows * d)).map { -2 * kappa / Double(d * rows) * (Double(host1[$0]) - z2[$0]) }
        let dot = zip(direction, entropyGradient).reduce(0) { $0 + $1.0 * $1.1 }
        let norms = direction.reduce(0) { $0 + $1 * $1 }.squareRoot() * entropyGradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let objective = LDMObjective(latent: .plane(precision: Float(kappa)), entropy: .stopGradient, variant: .ldm,
                                     diagnoseStopGradient: true)
        let result = try objective.evaluate(try backend.upload(host1, shape: [rows, d]), try backend.upload(host2, shape: [rows, d]),
                                            on: backend)
        let cosine = try #require(result.value.diagnostics["stopgrad_knn_cosine"])
        #expect(abs(cosine - dot / norms) < 1e-4, "\(cosine) vs \(dot / norms) on \(name)")
    }

    /// The Gaussian-predictor model with a given Σ (full and diagonal): −½·mean (z1 − z2)ᵀΣ⁻¹(z1 − z2), every backend.
    @Test(arguments: TestBackends.all, [true, false])
    func gaussianWithCovarianceMatchesTheReference(_ name: String, _ full: Bool) throws {
        let backend = try TestBackends.named(name)
        let d = Self.d
        let sigma: [Double] = full ? [2, 0.5, 0.2, 0.5, 1, 0.1, 0.2, 0.1, 0.7] : [2, 0, 0, 0, 0.5, 0, 0, 0, 1.5]
        let lower = Reference.cholesky(sigma, n: d)!
        // Σ⁻¹r by forward and back substitution with L (Double).
        let solve = { (r: [Double]) -> [Double] in
            var y = r
            for i in 0..<d { for t in 0..<i { y[i] -= lower[i * d + t] * y[t] }; y[i] /= lower[i * d + i] }
            var x = y
            for i in stride(from: d - 1, through: 0, by: -1) {
                for t in (i + 1)..<max(i + 1, d) { x[i] -= lower[t * d + i] * x[t] }
                x[i] /= lower[i * d + i]
            }
            return x
        }
        let reference = { (z1: [Double], z2: [Double]) -> Double in
            var total = 0.0
            for i in 0..<Self.rows {
                let r = (0..<d).map { z1[i * d + $0] - z2[i * d + $0] }
                total += zip(r, solve(r)).reduce(0) { $0 + $1.0 * $1.1 }
            }
            return 0.5 * total / Double(Self.rows)   // the loss: −alignment
        }
        var generator = SeededGenerator(seed: 94)
        let host1 = generator.floats(Self.rows * d), host2 = generator.floats(Self.rows * d)
        let covariance = try backend.upload(sigma.map(Float.init), shape: [d, d])
        let objective = LDMObjective(latent: .gaussianWithCovariance(covariance), entropy: .stopGradient, variant: .ldm)
        let z1 = try backend.upload(host1, shape: [Self.rows, d]), z2 = try backend.upload(host2, shape: [Self.rows, d])
        let result = try objective.evaluate(z1, z2, on: backend)
        let a = host1.map(Double.init), b = host2.map(Double.init)
        #expect(abs(result.value.loss - reference(a, b)) <= 1e-5 * max(1, reference(a, b)))
        expectClose(try backend.download(result.dz1), finiteDifferenceGradient(a) { reference($0, b) },
                    tolerance: Tolerance.gradient, "∂loss/∂μ gaussian Σ on \(name)")
        #expect(try backend.download(result.dz2).allSatisfy { $0 == 0 }, "stop-gradient target")
    }

    /// CPC: InfoNCE of q̂ = normalize(W·c) against ẑ, gradients for c, z and W, on every backend.
    @Test(arguments: TestBackends.all)
    func cpcMatchesTheReference(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let (rows, dc, dz, tau) = (6, 4, 3, 0.3)
        var generator = SeededGenerator(seed: 93)
        let hostC = generator.floats(rows * dc), hostZ = generator.floats(rows * dz), hostW = generator.floats(dz * dc)
        let reference = { (c: [Double], z: [Double], w: [Double]) -> Double in
            var q = [Double](repeating: 0, count: rows * dz)
            for i in 0..<rows { for k in 0..<dz { for t in 0..<dc { q[i * dz + k] += w[k * dc + t] * c[i * dc + t] } } }
            let qHat = Reference.normalizedRows(q, d: dz), zHat = Reference.normalizedRows(z, d: dz)
            let shape = PairwiseLSEShape(rows: rows, columns: rows, dimension: dz, kernel: .dot, scale: Float(1 / tau))
            let lse = Reference.pairwiseLSE(qHat, zHat, shape)
            var positive = 0.0
            for i in 0..<rows { for k in 0..<dz { positive += qHat[i * dz + k] * zHat[i * dz + k] } }
            return lse.reduce(0, +) / Double(rows) - positive / tau / Double(rows)
        }
        let c = try backend.upload(hostC, shape: [rows, dc]), z = try backend.upload(hostZ, shape: [rows, dz])
        let w = try backend.upload(hostW, shape: [dz, dc])
        let result = try CPC(predictor: w, temperature: Float(tau)).evaluate(c, z, on: backend)
        let c64 = hostC.map(Double.init), z64 = hostZ.map(Double.init), w64 = hostW.map(Double.init)
        let expected = reference(c64, z64, w64)
        #expect(abs(result.value.loss - expected) <= 1e-5 * max(1, abs(expected)), "\(result.value.loss) vs \(expected)")
        expectClose(try backend.download(result.dz1), finiteDifferenceGradient(c64) { reference($0, z64, w64) },
                    tolerance: Tolerance.gradient, "∂loss/∂c cpc on \(name)")
        expectClose(try backend.download(result.dz2), finiteDifferenceGradient(z64) { reference(c64, $0, w64) },
                    tolerance: Tolerance.gradient, "∂loss/∂z cpc on \(name)")
        let dw = try #require(result.parameterGradients["predictor"])
        expectClose(try backend.download(dw), finiteDifferenceGradient(w64) { reference(c64, z64, $0) },
                    tolerance: Tolerance.gradient, "∂loss/∂W cpc on \(name)")
    }

    /// Sequence CPC: windows of m encodings as contexts, K horizons, the mean of their InfoNCE losses; the loss
    /// against a Double reference built from windows gathered on the host, the gradients for z and every W_k
    /// against its central differences, on every backend.
    @Test(arguments: TestBackends.all)
    func sequenceCPCMatchesTheReference(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let (b, t, d, m, horizons, tau) = (2, 7, 3, 2, 2, 0.4)
        var generator = SeededGenerator(seed: 94)
        let hostZ = generator.floats(b * t * d), hostW = (0..<horizons).map { _ in generator.floats(d * m * d) }
        let reference = { (z: [Double], ws: [[Double]]) -> Double in
            var total = 0.0
            for (index, w) in ws.enumerated() {
                let k = index + 1, rows = t - m - k + 1, n = b * rows
                var q = [Double](), targets = [Double]()
                for s in 0..<b {
                    for r in 0..<rows {
                        let window = (0..<(m * d)).map { z[(s * t + r) * d + $0] }
                        q += (0..<d).map { i in (0..<(m * d)).reduce(0) { $0 + w[i * m * d + $1] * window[$1] } }
                        targets += (0..<d).map { z[(s * t + r + m - 1 + k) * d + $0] }
                    }
                }
                let qHat = Reference.normalizedRows(q, d: d), zHat = Reference.normalizedRows(targets, d: d)
                let lse = Reference.pairwiseLSE(qHat, zHat, PairwiseLSEShape(rows: n, columns: n, dimension: d, kernel: .dot, scale: Float(1 / tau)))
                let positive = zip(qHat, zHat).reduce(0) { $0 + $1.0 * $1.1 }
                total += (lse.reduce(0, +) - positive / tau) / Double(n)
            }
            return total / Double(ws.count)
        }
        let z = try backend.upload(hostZ, shape: [b * t, d])
        let ws = try hostW.map { try backend.upload($0, shape: [d, m * d]) }
        let result = try SequenceCPC(predictors: ws, contextSteps: m, temperature: Float(tau)).evaluate(z, sequences: b, steps: t, on: backend)
        let z64 = hostZ.map(Double.init), w64 = hostW.map { $0.map(Double.init) }
        let expected = reference(z64, w64)
        #expect(abs(result.loss - expected) <= 1e-5 * max(1, abs(expected)), "\(result.loss) vs \(expected)")
        expectClose(try backend.download(result.dz), finiteDifferenceGradient(z64) { reference($0, w64) },
                    tolerance: Tolerance.gradient, "∂loss/∂z sequence cpc on \(name)")
        for k in 0..<horizons {
            expectClose(try backend.download(result.predictorGradients[k]), finiteDifferenceGradient(w64[k]) { w in
                var all = w64
                all[k] = w
                return reference(z64, all)
            }, tolerance: Tolerance.gradient, "∂loss/∂W_\(k + 1) sequence cpc on \(name)")
        }
        #expect(throws: LDMError.self) { _ = try SequenceCPC(predictors: ws, contextSteps: 1) }   // W is d × 2d, not d × d
        #expect(throws: LDMError.self) {
            _ = try SequenceCPC(predictors: ws, contextSteps: m).evaluate(z, sequences: 1, steps: b * t - 1, on: backend)
        }
    }

    /// The registry: presets and grid points by name, what each needs around the encoder, the shared defaults.
    @Test func registryNamesPresetsAndGridPoints() throws {
        #expect(try ObjectiveRegistry.spec(named: "sphere+logdet+mi").head == .sphere)
        #expect(try ObjectiveRegistry.spec(named: "plane+vicreg").head == RepresentationHead.none)
        for bad in ["plane", "plane+knn+ldm", "cube+kde", "plane+plugin", "simclr+mi"] {
            #expect(throws: LDMError.self, "\(bad)") { _ = try ObjectiveRegistry.spec(named: bad) }
        }
        #expect(try ObjectiveRegistry.spec(named: "byol").needsPredictor && ObjectiveRegistry.spec(named: "jepa").needsPredictor)
        #expect(try !ObjectiveRegistry.spec(named: "ldm-contrastive").needsPredictor)
        #expect(try !ObjectiveRegistry.spec(named: "cpc").trainsTwoViews && ObjectiveRegistry.spec(named: "vicreg").trainsTwoViews)
        #expect(try ObjectiveRegistry.spec(named: "plane+taylor").make().name
                == LDMObjective(latent: .plane(precision: 5), entropy: .taylor(), variant: .ldm).name)
        #expect(try ObjectiveRegistry.spec(named: "ldm-contrastive").make().name == ObjectiveRegistry.gridPoint(.sphere, .kde, mi: false).make().name)
        // The clustering objectives: a softmax head and an annealed match probability (0.8 → 0.99, clamped).
        let clustering = try ObjectiveRegistry.spec(named: "clustering")
        #expect(try clustering.head == .softmax && clustering.annealsMatchProbability && ObjectiveRegistry.spec(named: "clustering-mi").head == .softmax)
        #expect(TwoViewLearner.matchProbability(at: 0) == 0.8 && abs(TwoViewLearner.matchProbability(at: 1) - 0.99) < 1e-6)
        #expect(abs(TwoViewLearner.matchProbability(at: 0.5) - 0.895) < 1e-6 && TwoViewLearner.matchProbability(at: 2) == TwoViewLearner.matchProbability(at: 1))
        var p = ObjectiveParameters()
        p.matchProbability = 0.99
        #expect(try clustering.make(p).name == LDMObjective(latent: .categorical(matchProbability: 0.99), entropy: .plugIn, variant: .ldm).name)
        #expect(throws: LDMError.self) { _ = try ObjectiveRegistry.spec(named: "cpc").make() }   // needs its predictor W
    }

    @Test func refusesMismatchedViewsAndBadParameters() throws {
        let cpu = try TestBackends.named("cpu")
        let z = try cpu.upload([Float](repeating: 1, count: 12), shape: [4, 3])
        let w = try cpu.upload([Float](repeating: 1, count: 12), shape: [3, 4])
        #expect(throws: LDMError.self) { _ = try NTXent().evaluate(z, w, on: cpu) }
        #expect(throws: LDMError.self) { _ = try NTXent(temperature: 0).evaluate(z, z, on: cpu) }
        let negative = LDMObjective(latent: .plane(precision: -1), entropy: .none, variant: .ldm)
        #expect(throws: LDMError.self) { _ = try negative.evaluate(z, z, on: cpu) }
    }
}
