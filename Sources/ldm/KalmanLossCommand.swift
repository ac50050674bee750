import ArgumentParser
import Foundation
import LDMCPU
import LDMEngine

extension KalmanCommand {
    /// `ldm kalman loss`: the Kalman-LDM loss of SPEC §5 with its gradients.
    struct Loss: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The Kalman-LDM loss (stop-gradient form) of pseudo-observations z, with its gradients.",
            discussion: """
                Filters z (B × T × d_l) with h_t = A(h_{t−1} − b) + b + N(0, e^s·diag(e^a)), z_t = [I 0]·h_t + \
                N(0, e^s·I) from h_0 = 0, P_0 = I, and prints the loss Σ_t [½ log det S_t + ½ eᵀS⁻¹e] averaged over \
                sequences. --out writes the filter's outputs and the gradients with respect to z, A, b, a and s. \
                CPU backend so far; the kNN variant is still to come.
                """)

        enum LossVariant: String, ExpressibleByArgument, CaseIterable { case stopgrad, knn }

        @Option(help: "Pseudo-observations, [B, T, d_l] (or [T, d_l]).") var z: String
        @Option(name: .customLong("A"), help: "Transition matrix, d_s × d_s (d_s ≥ d_l).") var a: String
        @Option(help: "Offset b, d_s (default 0).") var b: String?
        @Option(help: "Log process-noise diagonal a, d_s (default 0).") var logProcessNoise: String?
        @Option(help: "Joint log-scale s.") var logScale: Float = 0
        @Option(help: "stopgrad (the default) or knn.") var variant: LossVariant = .stopgrad
        @Option(help: "cpu (the OpenCL Kalman kernels are still to come).") var backend: BackendChoice = .cpu
        @Option(help: "Directory for predicted_means, filtered_means, filtered_covs, innovation_covs and the grad_*.npy files.")
        var out: String?
        @Flag(help: "Print JSON: loss, backend, seconds.") var json = false

        func validate() throws {
            guard backend == .cpu else { throw ValidationError("--backend must be cpu for now: the OpenCL Kalman kernels are still to come") }
            guard variant == .stopgrad else { throw ValidationError("--variant knn is not implemented yet; use stopgrad") }
            guard logScale.isFinite else { throw ValidationError("--log-scale must be finite") }
        }

        struct Output: Encodable {
            var loss: Double
            var backend: String
            var seconds: Double
        }

        func run() throws {
            try reportingErrors {
                let (zShape, zValues) = try finiteArray(z, ranks: [2, 3], what: "z")
                let dims = zShape.rank == 2 ? [1] + zShape.dims : zShape.dims
                let (aShape, aValues) = try finiteArray(a, ranks: [2], what: "A")
                guard aShape.dims[0] == aShape.dims[1], aShape.dims[0] >= dims[2] else {
                    throw LDMError.invalidFile(path: a, problem: "A must be square with d_s ≥ d_l = \(dims[2]), found shape \(aShape)")
                }
                let parameters = try KalmanLDMParameters(A: aValues, b: try b.map { try finiteArray($0, ranks: [1], what: "b").1 },
                                                         logProcessNoise: try logProcessNoise.map { try finiteArray($0, ranks: [1], what: "a").1 },
                                                         logScale: logScale)
                let cpu = try CPUBackend()
                let start = DispatchTime.now().uptimeNanoseconds
                let observations = try cpu.upload(zValues, shape: TensorShape(dims))
                let result = try cpu.kalmanLDMLoss(observations, parameters)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if let out {
                    let model = try LinearGaussianModel(kalmanLDM: parameters, observationDimension: dims[2])
                    let filtered = try KalmanFilterOutputs(batch: dims[0], steps: dims[1], model: model, on: cpu)
                    _ = try cpu.kalmanFilter(observations, model, into: filtered)
                    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                    let write = { (name: String, values: [Float], shape: TensorShape) in
                        try NumPyFile.write(values, shape: shape, to: (out as NSString).appendingPathComponent(name))
                    }
                    for (name, tensor) in [("predicted_means.npy", filtered.predictedMeans), ("filtered_means.npy", filtered.filteredMeans),
                                           ("filtered_covs.npy", filtered.filteredCovariances),
                                           ("innovation_covs.npy", filtered.innovationCovariances), ("grad_z.npy", result.gradZ)] {
                        try write(name, try cpu.download(tensor), tensor.shape)
                    }
                    let n = parameters.stateDimension
                    try write("grad_A.npy", result.gradA, [n, n])
                    try write("grad_b.npy", result.gradB, [n])
                    try write("grad_a.npy", result.gradLogProcessNoise, [n])
                    try write("grad_s.npy", [result.gradLogScale], [])
                }
                if json {
                    try printJSON(Output(loss: result.loss, backend: "cpu", seconds: seconds))
                } else {
                    print(String(format: "Kalman-LDM loss %.6f (mean over %d sequences of %d steps) in %.4f s", result.loss,
                                 dims[0], dims[1], seconds))
                }
            }
        }

        private func finiteArray(_ path: String, ranks: [Int], what: String) throws -> (TensorShape, [Float]) {
            let (shape, values) = try NumPyFile.read(path)
            guard ranks.contains(shape.rank) else {
                throw LDMError.invalidFile(path: path, problem: "\(what) must have rank \(ranks.map(String.init).joined(separator: " or ")), found shape \(shape)")
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw LDMError.invalidFile(path: path, problem: "\(what) has a non-finite value at flat index \(bad)")
            }
            return (shape, values)
        }
    }
}
