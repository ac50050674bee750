import COpenCL
import Foundation
import LDMEngine

/// kalman (OpenCL launchers of Kernels/kalman.cl): per-group covariance kernels on one work-group each; mean kernels
/// on one work-item per sequence, or, with one covariance group and n ≥ ``kalmanRowsOrder``, as products on
/// work-groups of ``kalmanRows(n:m:)`` sequences (their state sizes are compile-time defines, one program per (n, m)).
extension OpenCLBackend {
    static let kalmanGroup = 64
    /// The smallest state dimension whose shared-noise means run as products (the rows kernels).
    static let kalmanRowsOrder = 16

    /// Sequences per work-group of the rows kernels, which run one item per (coordinate, sequence): 16, halved
    /// until the work-group fits the device (and 1024 items) and the forward's four local arrays half its local
    /// memory; 0 when not even one sequence fits.
    func kalmanRows(n: Int, m: Int) -> Int {
        var rows = 16
        while rows > 0 && (rows * max(n, m) > min(1024, device.maxWorkGroupSize)
                           || rows * (2 * n + 2 * m) * MemoryLayout<Float>.size > device.localMemoryBytes / 2) { rows /= 2 }
        return rows
    }

    /// Whether the means of `groups` groups of n-state sequences run as products.
    private func kalmanMeansAsProducts(groups: Int, n: Int, m: Int) -> Bool {
        groups == 1 && n >= Self.kalmanRowsOrder && kalmanRows(n: n, m: m) > 0
    }

    /// Every kalman kernel of a problem comes from one program per file (kalman.cl, or kalman_rows.cl for the means
    /// as products) built for its (n, m): the per-sequence kernels size their private arrays by it, the rows kernels
    /// their local ones, the per-group ones take n and m as arguments.
    private func kalmanKernel(_ name: String, n: Int, m: Int, file: String = "kalman") throws -> cl_kernel {
        try kernel(file, name, options: "-DKF_WG=\(Self.kalmanGroup) -DKF_N=\(n) -DKF_M=\(m) -DKF_ROWS=\(max(1, kalmanRows(n: n, m: m)))")
    }

    /// The launch of a rows kernel over b sequences.
    private func kalmanRowsLaunch(_ name: String, n: Int, m: Int, batch b: Int, _ op: String, _ arguments: [KernelArgument]) throws {
        let rows = kalmanRows(n: n, m: m), items = rows * max(n, m)
        try launch(try kalmanKernel(name, n: n, m: m, file: "kalman_rows"), op, arguments, global: [(b + rows - 1) / rows * items], local: [items])
    }

    private func ints(_ values: Int..., op: String) throws -> [KernelArgument] {
        try values.map { .int(try requireInt32($0, op)) }
    }

    public func uncheckedKalmanCovarianceForward(_ x: KalmanCovarianceInputs, into tape: KalmanCovarianceTape,
                                                 chunks: Int) throws -> Float {
        let op = "kalmanCovarianceForward"
        let (n, m, g) = (x.n, x.m, x.groups)
        let (length, count) = AffineScanShape.chunking(steps: x.steps, chunks)
        let items = count * g   // ≤ T·G, whose tape exists
        var jitter: Float = 0, starts = x.P0   // P0 stands in for the starts with one chunk (never read)
        if count > 1 {
            starts = try makeTensor([count, g, n, n])
            jitter = try kalmanScanStarts(x, length: length, count: count, into: starts)
        }
        let scratch = try makeTensor([items, 3 * n * n + 2 * n * m + m * m]), status = try makeTensor([items, 2])
        var arguments = try ints(n, m, x.steps, g, length, op: op) + modelArguments(x, op)
        arguments += [.buffer(try mem(x.P0, op)), .buffer(try mem(starts, op))]
        arguments += try [tape.predicted, tape.filtered, tape.innovation, tape.factors, tape.gains, tape.logDeterminants,
                          status, scratch].map { .buffer(try mem($0, op)) }
        try launch(try kalmanKernel("kalman_covariance_forward", n: n, m: m), op, arguments,
                   global: [items * Self.kalmanGroup], local: [Self.kalmanGroup])
        let report = try download(status)
        // The earliest failing step of each group (a later chunk may fail from a start an earlier failure spoiled).
        for group in 0..<g {
            if let step = (0..<count).map({ report[2 * ($0 * g + group)] }).first(where: { $0 >= 0 }) {
                throw KalmanChecks.innovationFailure(group: group, step: Int(step))
            }
        }
        return max(jitter, (0..<items).map { report[2 * $0 + 1] }.max() ?? 0)
    }

    /// F, H, Q, its group stride, R, its group and step strides, whether it is log-diagonal and its extra diagonal:
    /// the arguments every covariance-forward kernel takes in this order.
    private func modelArguments(_ x: KalmanCovarianceInputs, _ op: String) throws -> [KernelArgument] {
        let rStrides = x.R.strides(perStep: x.R.isLogDiagonal ? x.m : x.m * x.m)
        var arguments: [KernelArgument] = [.buffer(try mem(x.F, op)), .buffer(try mem(x.H, op)), .buffer(try mem(x.Q, op))]
        arguments += try ints(x.qGroupStride, op: op)
        arguments += [.buffer(try mem(x.R.tensor, op))]
        arguments += try ints(rStrides.group, rStrides.step, x.R.isLogDiagonal ? 1 : 0, op: op)
        return arguments + [.float(x.R.extra)]
    }

    /// kalman_scan.cl: each chunk but the last folded into one element, then each chunk's P before its first step.
    private func kalmanScanStarts(_ x: KalmanCovarianceInputs, length: Int, count: Int, into starts: Tensor) throws -> Float {
        let op = "kalmanCovarianceForward (time-parallel)"
        let (n, m, g) = (x.n, x.m, x.groups)
        let folds = (count - 1) * g
        // Working floats per item (kalman_scan.cl): an element, then an element's or a combination's matrices.
        let combineScratch = 11 * n * n, elementScratch = n * n + 2 * m * m + 4 * n * m
        let foldSlice = 3 * n * n + max(elementScratch, combineScratch), carrySlice = 3 * n * n + combineScratch
        let folded = try makeTensor([count - 1, g, 3, n, n]), foldStatus = try makeTensor([folds, 3])
        let foldScratch = try makeTensor([folds, foldSlice])
        var arguments = try ints(n, m, x.steps, g, length, folds, foldSlice, op: op) + modelArguments(x, op)
        arguments += try [x.P0, folded, foldStatus, foldScratch].map { .buffer(try mem($0, op)) }
        try launch(try kalmanKernel("kalman_scan_fold", n: n, m: m, file: "kalman_scan"), op, arguments, global: [folds], local: nil)
        let foldReport = try download(foldStatus)
        for item in 0..<folds where foldReport[3 * item] != 0 {
            let (group, step) = (item % g, Int(foldReport[3 * item + 1]))
            throw foldReport[3 * item] == 1 ? KalmanChecks.innovationFailure(group: group, step: step)
                : KalmanChecks.scanFailure(group: group, step: step)
        }
        let carryStatus = try makeTensor([g, 3]), carryScratch = try makeTensor([g, carrySlice])
        var carryArguments = try ints(n, g, length, count, carrySlice, op: op)
        carryArguments += try [folded, starts, carryStatus, carryScratch].map { .buffer(try mem($0, op)) }
        try launch(try kalmanKernel("kalman_scan_carry", n: n, m: m, file: "kalman_scan"), op, carryArguments, global: [g], local: nil)
        let carryReport = try download(carryStatus)
        if let group = (0..<g).first(where: { carryReport[3 * $0] != 0 }) {
            throw KalmanChecks.scanFailure(group: group, step: Int(carryReport[3 * group + 1]))
        }
        let foldJitter = (0..<folds).map { foldReport[3 * $0 + 2] }.max() ?? 0
        let carryJitter = (0..<g).map { carryReport[3 * $0 + 2] }.max() ?? 0
        return max(foldJitter, carryJitter)
    }

    public func uncheckedKalmanMeanForward(_ z: Tensor, _ x: KalmanMeanInputs, _ tape: KalmanCovarianceTape,
                                  into means: KalmanMeanTape) throws {
        let b = z.shape.dims[0]
        let op = "kalmanMeanForward"
        let (n, m, steps) = (tape.n, tape.m, tape.steps)
        if kalmanMeansAsProducts(groups: tape.groups, n: n, m: m) {
            let inverses = try makeTensor([steps, m, m])
            try launch(try kalmanKernel("kalman_innovation_inverse", n: n, m: m, file: "kalman_rows"), op,
                       try ints(steps, op: op) + [.buffer(try mem(tape.factors, op)), .buffer(try mem(inverses, op))],
                       global: [steps * m], local: nil)
            var arguments = try ints(b, steps, op: op)
            arguments += try [z, x.F, x.offset, x.H, x.m0, inverses, tape.gains, tape.logDeterminants, means.predictedMeans,
                              means.filteredMeans, means.previousMeans, means.whitened, means.logLikelihood]
                .map { .buffer(try mem($0, op)) }
            return try kalmanRowsLaunch("kalman_mean_forward_rows", n: n, m: m, batch: b, op, arguments)
        }
        var arguments = try ints(b, tape.steps, tape.groups, op: op)
        arguments += try [z, x.F, x.offset, x.H, x.m0, tape.factors, tape.gains, tape.logDeterminants,
                          means.predictedMeans, means.filteredMeans, means.previousMeans, means.whitened,
                          means.logLikelihood].map { .buffer(try mem($0, op)) }
        try launch(try kalmanKernel("kalman_mean_forward", n: tape.n, m: tape.m), op, arguments, global: [b], local: nil)
    }

    public func uncheckedKalmanCovarianceSmoother(_ tape: KalmanCovarianceTape, F: Tensor, into smoother: KalmanSmootherTape) throws {
        let op = "kalmanCovarianceSmoother"
        let (n, g) = (tape.n, tape.groups)
        let scratch = try makeTensor([g, 3 * n * n]), status = try makeTensor([g])
        var arguments = try ints(n, tape.steps, g, op: op)
        arguments += try [F, tape.predicted, tape.filtered, smoother.gains, smoother.covariances, status, scratch]
            .map { .buffer(try mem($0, op)) }
        try launch(try kalmanKernel("kalman_covariance_smoother", n: n, m: tape.m), op, arguments,
                   global: [g * Self.kalmanGroup], local: [Self.kalmanGroup])
        let report = try download(status)
        if let group = report.firstIndex(where: { $0 >= 0 }) {
            throw KalmanChecks.smootherFailure(group: group, step: Int(report[group]))
        }
    }

    public func uncheckedKalmanMeanSmoother(_ means: KalmanMeanTape, _ smoother: KalmanSmootherTape, groups g: Int,
                                   into smoothedMeans: Tensor) throws {
        let op = "kalmanMeanSmoother"
        if kalmanMeansAsProducts(groups: g, n: means.n, m: means.m) {
            var arguments = try ints(means.batch, means.steps, op: op)
            arguments += try [means.filteredMeans, means.predictedMeans, smoother.gains, smoothedMeans].map { .buffer(try mem($0, op)) }
            return try kalmanRowsLaunch("kalman_mean_smoother_rows", n: means.n, m: means.m, batch: means.batch, op, arguments)
        }
        var arguments = try ints(means.batch, means.steps, g, op: op)
        arguments += try [means.filteredMeans, means.predictedMeans, smoother.gains, smoothedMeans].map { .buffer(try mem($0, op)) }
        try launch(try kalmanKernel("kalman_mean_smoother", n: means.n, m: means.m), op, arguments,
                   global: [means.batch], local: nil)
    }

    public func uncheckedKalmanLDMMeanBackward(_ tape: KalmanCovarianceTape, _ means: KalmanMeanTape, A: Tensor,
                                      gradientScale: Float, stopGradient: Bool, into adjoints: KalmanLDMMeanAdjoints) throws {
        let op = "kalmanLDMMeanBackward"
        let rows = kalmanMeansAsProducts(groups: tape.groups, n: means.n, m: means.m)
        var arguments = try rows ? ints(means.batch, means.steps, op: op) : ints(means.batch, means.steps, tape.groups, op: op)
        arguments += try [A, tape.gains, means.whitened].map { .buffer(try mem($0, op)) }
        arguments += [.float(gradientScale), .int(stopGradient ? 1 : 0)]
        arguments += try [adjoints.gradZ, adjoints.hBar, adjoints.hBarMinus, adjoints.w].map { .buffer(try mem($0, op)) }
        if rows {
            return try kalmanRowsLaunch("kalman_ldm_mean_backward_rows", n: means.n, m: means.m, batch: means.batch, op, arguments)
        }
        try launch(try kalmanKernel("kalman_ldm_mean_backward", n: means.n, m: means.m), op, arguments,
                   global: [means.batch], local: nil)
    }

    public func uncheckedKalmanLDMCovarianceBackward(_ x: KalmanCovarianceInputs, _ tape: KalmanCovarianceTape, seedC: Tensor,
                                                     seedS: Tensor, sequencesPerGroup: Int, into grads: KalmanLDMCovarianceGradients,
                                                     chunks: Int) throws {
        let op = "kalmanLDMCovarianceBackward"
        let (n, g) = (x.n, x.groups)
        let (length, count) = AffineScanShape.chunking(steps: x.steps, chunks)
        // With one chunk the pass runs from zero (P0 stands in for the starts, never read) and adds straight into the
        // gradients; with several, each chunk adds into its own slot.
        var (partialA, partialQ, starts) = (grads.gradA, grads.gradLogQ, x.P0)
        if count > 1 {
            (partialA, partialQ) = (try makeTensor([count, g, n, n]), try makeTensor([count, g, n]))
            starts = try makeTensor([count, g, n, n])
            let folded = try makeTensor([count, g, 2, n, n])
            try launchCovarianceBackward(x, tape, seedC: seedC, seedS: seedS, sequencesPerGroup: sequencesPerGroup,
                                         length: length, chunks: 1..<count, fold: true, starts: starts, gradA: partialA,
                                         gradQ: partialQ, gradR: grads.gradLogR, folded: folded)
            let scratch = try makeTensor([g, n, n])
            var arguments = try ints(n, g, count, op: op)
            arguments += try [folded, starts, scratch].map { .buffer(try mem($0, op)) }
            try launch(try kalmanKernel("kalman_scan_reverse_carry", n: n, m: x.m, file: "kalman_scan"), op, arguments,
                       global: [g], local: nil)
        }
        try launchCovarianceBackward(x, tape, seedC: seedC, seedS: seedS, sequencesPerGroup: sequencesPerGroup, length: length,
                                     chunks: 0..<count, fold: false, starts: starts, gradA: partialA, gradQ: partialQ,
                                     gradR: grads.gradLogR, folded: starts)
        if count > 1 {
            // Σ over chunks, in chunk order: a row of ones times [count, G·n²] (and [count, G·n]).
            let ones = try makeTensor([1, count])
            try fill(ones, with: 1)
            try matmul(ones, partialA, into: grads.gradA, MatmulShape(m: 1, n: g * n * n, k: count))
            try matmul(ones, partialQ, into: grads.gradLogQ, MatmulShape(m: 1, n: g * n, k: count))
        }
    }

    /// One launch of kalman_ldm_covariance_backward over the given chunks of every group.
    private func launchCovarianceBackward(_ x: KalmanCovarianceInputs, _ tape: KalmanCovarianceTape, seedC: Tensor, seedS: Tensor,
                                          sequencesPerGroup: Int, length: Int, chunks: Range<Int>, fold: Bool, starts: Tensor,
                                          gradA: Tensor, gradQ: Tensor, gradR: Tensor, folded: Tensor) throws {
        let op = "kalmanLDMCovarianceBackward"
        let (n, m, g) = (x.n, x.m, x.groups)
        let items = chunks.count * g
        let scratch = try makeTensor([items, 8 * n * n + n * m + m * m])
        let rStrides = x.R.strides(perStep: m)
        var arguments = try ints(n, m, x.steps, g, length, chunks.lowerBound, fold ? 1 : 0, op: op)
        arguments += [.buffer(try mem(x.F, op)), .buffer(try mem(x.Q, op))]
        arguments += try ints(x.qGroupStride, op: op)
        arguments += [.buffer(try mem(x.R.tensor, op))]
        arguments += try ints(rStrides.group, rStrides.step, op: op)
        arguments += try [x.P0, tape.filtered, tape.factors, tape.gains, seedC, seedS].map { .buffer(try mem($0, op)) }
        arguments += [.float(0.5 * Float(sequencesPerGroup))]
        arguments += try [starts, gradA, gradQ, gradR, folded, scratch].map { .buffer(try mem($0, op)) }
        try launch(try kalmanKernel("kalman_ldm_covariance_backward", n: n, m: m), op, arguments,
                   global: [items * Self.kalmanGroup], local: [Self.kalmanGroup])
    }
}

extension OpenCLBackend {
    public func uncheckedKalmanInnovationInverses(_ tape: KalmanCovarianceTape, into inverses: Tensor) throws {
        let op = "kalmanInnovationInverses"
        let count = tape.steps * tape.groups
        try launch(try kalmanKernel("kalman_innovation_inverse", n: tape.n, m: tape.m, file: "kalman_rows"), op,
                   [.int(try requireInt32(count, op)), .buffer(try mem(tape.factors, op)), .buffer(try mem(inverses, op))],
                   global: [padded(count * tape.m, to: Self.elementwiseGroup)], local: [Self.elementwiseGroup])
    }

    public func uncheckedKalmanLogLikelihood(_ innovations: Tensor, whitened: Tensor, _ tape: KalmanCovarianceTape,
                                             into logLikelihood: Tensor) throws {
        let op = "kalmanLogLikelihood"
        let b = logLikelihood.count
        _ = try requireInt32(b * tape.steps * tape.m, op)
        try launch(try kalmanKernel("kalman_log_likelihood", n: tape.n, m: tape.m, file: "kalman_rows"), op,
                   try ints(b, tape.steps, tape.groups, op: op)
                   + [innovations, whitened, tape.logDeterminants, logLikelihood].map { .buffer(try mem($0, op)) },
                   global: [padded(b, to: 64)], local: [64])
    }

    /// A GPU takes the time-parallel means from the measured crossover on; a CPU device (PoCL) never: its
    /// sequential kernels already keep its cores busy (docs/benchmarks.md, "Time-parallel Kalman means").
    public func kalmanTimeParallelPreferred(batch: Int, steps: Int, n: Int) -> Bool {
        device.type == "GPU" && steps >= 512
    }

    /// On a GPU, enough chunks that chunks × groups fills about 1024 work-groups, and no more than √T (an unmeasured
    /// first guess: no GPU has run it yet); on a CPU device one chunk, as on the CPU backend.
    public func kalmanCovarianceChunks(groups: Int, steps: Int, n: Int) -> Int {
        guard device.type == "GPU" else { return 1 }
        let root = Int(Double(steps).squareRoot().rounded(.up))
        return max(1, min(root, (1024 + groups - 1) / max(1, groups)))
    }
}
