import ArgumentParser
import Foundation
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
                Q and R may be given per sequence ([B, n, n], [B, m, m]); shared noises make the covariance \
                recursion run once for the whole batch.
                """)

        @Option(help: "Observations, [B, T, m] (or [T, m] for one sequence).") var z: String
        @Option(name: .customLong("F"), help: "Transition matrix, n × n.") var f: String
        @Option(name: .customLong("H"), help: "Observation matrix, m × n.") var h: String
        @Option(name: .customLong("Q"), help: "Process noise covariance, n × n (or B × n × n).") var q: String
        @Option(name: .customLong("R"), help: "Observation noise covariance, m × m (or B × m × m).") var r: String
        @Option(help: "Initial mean, n (default 0).") var m0: String?
        @Option(name: .customLong("P0"), help: "Initial covariance, n × n (default I).") var p0: String?
        @Flag(help: "Also run the Rauch–Tung–Striebel smoother.") var smooth = false
        @Option(help: "The means: auto (the backend's measured choice), on (affine scans over time, per sequence when Q or R is given per sequence) or off (the sequential recursion).")
        var timeParallel: KalmanTimeParallel = .automatic
        @OptionGroup(title: "Backend") var backend: BackendOptions
        @Option(help: "Directory for filtered_means.npy, filtered_covs.npy (and smoothed_*.npy with --smooth).")
        var out: String?
        @Flag(help: "Print JSON: log_likelihood, backend, seconds, jitter.") var json = false

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
                let (qShape, qValues) = try matrix(q, rank: [2, 3], what: "Q")
                let (rShape, rValues) = try matrix(r, rank: [2, 3], what: "R")
                let m0Values = try m0.map { try matrix($0, rank: [1], what: "m0").1 }
                let p0Values = try p0.map { try matrix($0, rank: [2], what: "P0").1 }
                let (n, m) = (fShape.dims[0], hShape.dims[0])
                guard hShape.dims[1] == n, dims[2] == m else {
                    throw LDMError.shapeMismatch(operation: "ldm kalman filter",
                                                 detail: "\(z) has m = \(dims[2]), \(h) is \(hShape), \(f) is \(fShape)")
                }
                for (path, shape, size, what) in [(q, qShape, n, "Q"), (r, rShape, m, "R")]
                    where Array(shape.dims.suffix(2)) != [size, size] || (shape.rank == 3 && shape.dims[0] != dims[0]) {
                    throw LDMError.invalidFile(path: path, problem: "\(what) must be \(size) × \(size) or \(dims[0]) × \(size) × \(size), found shape \(shape)")
                }
                let model = try LinearGaussianModel(F: fValues, H: hValues, Q: qValues, R: rValues, m0: m0Values, P0: p0Values)
                let engine = try backend.open()
                let start = DispatchTime.now().uptimeNanoseconds
                let observations = try engine.upload(zValues, shape: TensorShape(dims))
                let filtered = try engine.kalmanFilter(observations, model, timeParallel: timeParallel)
                let smoothed = smooth ? try engine.rtsSmoother(filtered, model, timeParallel: timeParallel) : nil
                let perSequence = try engine.download(filtered.logLikelihood).map(Double.init)
                let logLikelihood = perSequence.reduce(0, +) / Double(perSequence.count)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let jitter = filtered.jitter
                if let out {
                    let (b, t, g) = (dims[0], dims[1], filtered.groups)
                    let perSequenceCovariances = { (tensor: Tensor) in
                        KalmanLayout.perSequence(try engine.download(tensor), steps: t, groups: g, batch: b, elements: n * n)
                    }
                    var files: [(String, [Float], TensorShape)] = [
                        ("filtered_means.npy", try engine.download(filtered.means.filteredMeans), [b, t, n]),
                        ("filtered_covs.npy", try perSequenceCovariances(filtered.covariances.filtered), [b, t, n, n])]
                    if let smoothed {
                        files += [("smoothed_means.npy", try engine.download(smoothed.means), [b, t, n]),
                                  ("smoothed_covs.npy", try perSequenceCovariances(smoothed.covariances), [b, t, n, n])]
                    }
                    try writeArrays(files, to: out)
                }
                if json {
                    try printJSON(Output(logLikelihood: logLikelihood, backend: engine.info.kind.rawValue, seconds: seconds, jitter: jitter))
                } else {
                    print(String(format: "log-likelihood %.6f (mean over %d sequences of %d steps) in %.3f s",
                                 logLikelihood, dims[0], dims[1], seconds))
                    if jitter > 0 { print("note: jitter \(jitter) was added to an innovation covariance") }
                }
            }
        }

        /// A finite array of one of the given ranks from `path`; F and P0 must be square.
        private func matrix(_ path: String, rank: [Int], what: String) throws -> (TensorShape, [Float]) {
            let (shape, values) = try readFiniteArray(path, ranks: rank, what: what)
            if shape.rank == 2 && ["F", "P0"].contains(what) && shape.dims[0] != shape.dims[1] {
                throw LDMError.invalidFile(path: path, problem: "\(what) must be square, found shape \(shape)")
            }
            return (shape, values)
        }
    }
}
