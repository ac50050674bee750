import ArgumentParser
import Foundation
import LDMCPU
import LDMEngine

/// `ldm kalman`: linear-Gaussian filtering on NumPy arrays.
struct KalmanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kalman",
        abstract: "Batched Kalman filtering and smoothing on .npy arrays.",
        subcommands: [Filter.self, Loss.self])

    struct Filter: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Filter (and optionally smooth) a batch of sequences under a linear-Gaussian model.",
            discussion: """
                h_t = F·h_{t−1} + N(0, Q), z_t = H·h_t + N(0, R) from h_0 ~ N(m0, P0) (default m0 = 0, P0 = I); as in \
                filterpy's batch_filter, the first observation is preceded by a predict step. Prints the \
                log-likelihood (summed over t, averaged over sequences, the −m/2·log 2π constants included). \
                CPU backend so far.
                """)

        @Option(help: "Observations, [B, T, m] (or [T, m] for one sequence).") var z: String
        @Option(name: .customLong("F"), help: "Transition matrix, n × n.") var f: String
        @Option(name: .customLong("H"), help: "Observation matrix, m × n.") var h: String
        @Option(name: .customLong("Q"), help: "Process noise covariance, n × n.") var q: String
        @Option(name: .customLong("R"), help: "Observation noise covariance, m × m.") var r: String
        @Option(help: "Initial mean, n (default 0).") var m0: String?
        @Option(name: .customLong("P0"), help: "Initial covariance, n × n (default I).") var p0: String?
        @Flag(help: "Also run the Rauch–Tung–Striebel smoother.") var smooth = false
        @Option(help: "cpu (the OpenCL Kalman kernels are still to come).") var backend: BackendChoice = .cpu
        @Option(help: "Directory for filtered_means.npy, filtered_covs.npy (and smoothed_*.npy with --smooth).")
        var out: String?
        @Flag(help: "Print JSON: log_likelihood, backend, seconds, jitter.") var json = false

        func validate() throws {
            guard backend == .cpu else {
                throw ValidationError("--backend must be cpu for now: the OpenCL Kalman kernels are still to come")
            }
        }

        struct Output: Encodable {
            var logLikelihood: Double
            var backend: String
            var seconds: Double
            var jitter: Float
            enum CodingKeys: String, CodingKey {
                case logLikelihood = "log_likelihood"
                case backend, seconds, jitter
            }
        }

        func run() throws {
            try reportingErrors {
                let (zShape, zValues) = try matrix(z, rank: [2, 3], what: "observations")
                let dims = zShape.rank == 2 ? [1] + zShape.dims : zShape.dims
                let (fShape, fValues) = try matrix(f, rank: [2], what: "F")
                let (hShape, hValues) = try matrix(h, rank: [2], what: "H")
                let (_, qValues) = try matrix(q, rank: [2], what: "Q")
                let (_, rValues) = try matrix(r, rank: [2], what: "R")
                let m0Values = try m0.map { try matrix($0, rank: [1], what: "m0").1 }
                let p0Values = try p0.map { try matrix($0, rank: [2], what: "P0").1 }
                guard hShape.dims[1] == fShape.dims[0], dims[2] == hShape.dims[0] else {
                    throw LDMError.shapeMismatch(operation: "ldm kalman filter",
                                                 detail: "\(z) has m = \(dims[2]), \(h) is \(hShape), \(f) is \(fShape)")
                }
                let model = try LinearGaussianModel(F: fValues, H: hValues, Q: qValues, R: rValues, m0: m0Values, P0: p0Values)
                let cpu = try CPUBackend()
                let start = DispatchTime.now().uptimeNanoseconds
                let observations = try cpu.upload(zValues, shape: TensorShape(dims))
                let outputs = try KalmanFilterOutputs(batch: dims[0], steps: dims[1], model: model, on: cpu)
                let jitter = try cpu.kalmanFilter(observations, model, into: outputs)
                var smoothed: (Tensor, Tensor)?
                if smooth {
                    let means = try cpu.makeTensor(outputs.filteredMeans.shape)
                    let covs = try cpu.makeTensor(outputs.filteredCovariances.shape)
                    try cpu.rtsSmoother(outputs, model, means: means, covariances: covs)
                    smoothed = (means, covs)
                }
                let perSequence = try cpu.download(outputs.logLikelihood).map(Double.init)
                let logLikelihood = perSequence.reduce(0, +) / Double(perSequence.count)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if let out {
                    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                    var files = [("filtered_means.npy", outputs.filteredMeans), ("filtered_covs.npy", outputs.filteredCovariances)]
                    if let (means, covs) = smoothed { files += [("smoothed_means.npy", means), ("smoothed_covs.npy", covs)] }
                    for (name, tensor) in files {
                        try NumPyFile.write(try cpu.download(tensor), shape: tensor.shape,
                                            to: (out as NSString).appendingPathComponent(name))
                    }
                }
                if json {
                    try printJSON(Output(logLikelihood: logLikelihood, backend: "cpu", seconds: seconds, jitter: jitter))
                } else {
                    print(String(format: "log-likelihood %.6f (mean over %d sequences of %d steps) in %.3f s",
                                 logLikelihood, dims[0], dims[1], seconds))
                    if jitter > 0 { print("note: jitter \(jitter) was added to an innovation covariance") }
                }
            }
        }

        /// A finite array of one of the given ranks from `path`.
        private func matrix(_ path: String, rank: [Int], what: String) throws -> (TensorShape, [Float]) {
            let (shape, values) = try NumPyFile.read(path)
            guard rank.contains(shape.rank) else {
                throw LDMError.invalidFile(path: path, problem: "\(what) must have rank \(rank.map(String.init).joined(separator: " or ")), found shape \(shape)")
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw LDMError.invalidFile(path: path, problem: "\(what) has a non-finite value at flat index \(bad)")
            }
            if shape.rank == 2 && ["F", "Q", "R", "P0"].contains(what) && shape.dims[0] != shape.dims[1] {
                throw LDMError.invalidFile(path: path, problem: "\(what) must be square, found shape \(shape)")
            }
            return (shape, values)
        }
    }
}
