import ArgumentParser
import Foundation
import LDMEngine
import LDMObjectives

extension KalmanCommand {
    /// `ldm kalman loss`: the Kalman-LDM loss of docs/mathematics.md §5 with its gradients.
    struct Loss: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The Kalman-LDM loss of pseudo-observations z, with its gradients.",
            discussion: """
                Filters z (B × T × d_l) with h_t = A(h_{t−1} − b) + b + N(0, e^s·diag(e^a)), z_t = [I 0]·h_t + \
                N(0, e^s·I) from h_0 = 0, P_0 = I, and prints the loss Σ_t [½ log det S_t + ½ eᵀS⁻¹e] averaged over \
                sequences (stopgrad: the target z is detached; knn: it is not, S_t gets +1e-6·I and the loss \
                subtracts T·d·mean log ρ₃ over all B·T latents). --log-observation-noise ℓ [B, T, d_l] makes \
                Σ_D,t = e^s·diag(e^ℓ_t) per step. --out writes the filter's outputs and the gradients with \
                respect to z, A, b, a, s (and ℓ).
                """)

        enum LossVariant: String, ExpressibleByArgument, CaseIterable { case stopgrad, knn }

        @Option(help: "Pseudo-observations, [B, T, d_l] (or [T, d_l]).") var z: String
        @Option(name: .customLong("A"), help: "Transition matrix, d_s × d_s (d_s ≥ d_l).") var a: String
        @Option(help: "Offset b, d_s (default 0).") var b: String?
        @Option(help: "Log process-noise diagonal a, d_s (default 0).") var logProcessNoise: String?
        @Option(parsing: .unconditional, help: "Joint log-scale s (any real number; negative values are written as a separate argument too).") var logScale: Float = 0
        @Option(help: "Per-step log observation noise ℓ, [B, T, d_l] like z (default: none, Σ_D = e^s·I).")
        var logObservationNoise: String?
        @Option(help: "stopgrad (the default) or knn.") var variant: LossVariant = .stopgrad
        @Option(help: "The filter's form: auto (the backend's measured choice), on (the means and their adjoint as affine scans over time, per sequence with --log-observation-noise, which also splits the covariance recursion into chunks: LDM_KALMAN_CHUNKS or the backend's choice) or off (the sequential recursion).")
        var timeParallel: KalmanTimeParallel = .automatic
        @OptionGroup(title: "Backend") var backend: BackendOptions
        @Option(help: "Directory for predicted_means, filtered_means, filtered_covs, innovation_covs and the grad_*.npy files.")
        var out: String?
        @Flag(help: "Print JSON: loss, backend, seconds.") var json = false

        func validate() throws {
            try Check.finite(logScale, "--log-scale")
        }

        struct Output: Encodable {
            var loss: Double
            var backend: String
            var seconds: Double
        }

        func run() throws {
            try reportingErrors {
                let (zShape, zValues) = try readFiniteArray(z, ranks: [2, 3], what: "z")
                let dims = zShape.rank == 2 ? [1] + zShape.dims : zShape.dims
                let (aShape, aValues) = try readFiniteArray(a, ranks: [2], what: "A")
                guard aShape.dims[0] == aShape.dims[1], aShape.dims[0] >= dims[2] else {
                    throw LDMError.invalidFile(path: a, problem: "A must be square with d_s ≥ d_l = \(dims[2]), found shape \(aShape)")
                }
                let parameters = try KalmanLDMParameters(A: aValues, b: try b.map { try readFiniteArray($0, ranks: [1], what: "b").1 },
                                                         logProcessNoise: try logProcessNoise.map { try readFiniteArray($0, ranks: [1], what: "a").1 },
                                                         logScale: logScale)
                let noiseValues = try logObservationNoise.map { path -> [Float] in
                    let (shape, values) = try readFiniteArray(path, ranks: [2, 3], what: "the log observation noise")
                    guard shape.count == zShape.count, shape.dims.suffix(2) == zShape.dims.suffix(2) else {
                        throw LDMError.invalidFile(path: path, problem: "the log observation noise must have z's shape \(zShape), found \(shape)")
                    }
                    return values
                }
                let engine = try backend.open()
                let start = DispatchTime.now().uptimeNanoseconds
                let observations = try engine.upload(zValues, shape: TensorShape(dims))
                let noise = try noiseValues.map { try engine.upload($0, shape: TensorShape(dims)) }
                let result = try engine.kalmanLDMLoss(observations, parameters, variant: variant == .knn ? .knn : .stopGradient,
                                                      logObservationNoise: noise, timeParallel: timeParallel)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if let out {
                    let (bSize, t, dl, n) = (dims[0], dims[1], dims[2], parameters.stateDimension)
                    let filter = result.filter, g = filter.groups
                    let perSequence = { (tensor: Tensor, elements: Int) in
                        KalmanLayout.perSequence(try engine.download(tensor), steps: t, groups: g, batch: bSize, elements: elements)
                    }
                    var files: [(String, [Float], TensorShape)] = [
                        ("predicted_means.npy", try engine.download(filter.means.predictedMeans), [bSize, t, n]),
                        ("filtered_means.npy", try engine.download(filter.means.filteredMeans), [bSize, t, n]),
                        ("filtered_covs.npy", try perSequence(filter.covariances.filtered, n * n), [bSize, t, n, n]),
                        ("innovation_covs.npy", try perSequence(filter.covariances.innovation, dl * dl), [bSize, t, dl, dl]),
                        ("grad_z.npy", try engine.download(result.gradZ), TensorShape(dims)),
                        ("grad_A.npy", result.gradA, [n, n]), ("grad_b.npy", result.gradB, [n]),
                        ("grad_a.npy", result.gradLogProcessNoise, [n]), ("grad_s.npy", [result.gradLogScale], [])]
                    if let gradNoise = result.gradLogObservationNoise {
                        files.append(("grad_log_observation_noise.npy", try engine.download(gradNoise), TensorShape(dims)))
                    }
                    try writeArrays(files, to: out)
                }
                if json {
                    try printJSON(Output(loss: result.loss, backend: engine.info.kind.rawValue, seconds: seconds))
                } else {
                    print(String(format: "Kalman-LDM loss %.6f (mean over %d sequences of %d steps) in %.4f s", result.loss,
                                 dims[0], dims[1], seconds))
                }
            }
        }
    }
}
