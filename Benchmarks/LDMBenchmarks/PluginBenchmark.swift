import Foundation
import LDMEngine
import LDMReference

/// plugin.cl (CPUBackend+Plugin, OpenCLBackend+Plugin): value + gradients of the categorical plug-in entropy of the
/// batch joint of two 8192 × 64 softmax views (a clustering head). The value is validated on the timed arrays
/// against the Double reference, the gradients on a 24 × 4 instance against central differences of it.
public enum PluginBenchmark {
    public static func run(_ context: BenchmarkContext, rows: Int = 8192, classes: Int = 64) throws -> [BenchmarkRow] {
        let backend = context.backend
        let host1 = softmaxRows(rows, classes, seed: 0x706c75), host2 = softmaxRows(rows, classes, seed: 0x706c76)
        let z1 = try backend.upload(host1, shape: [rows, classes]), z2 = try backend.upload(host2, shape: [rows, classes])
        let g1 = try backend.makeTensor([rows, classes]), g2 = try backend.makeTensor([rows, classes])
        let value = try backend.categoricalEntropy(z1, z2, gradient1: g1, gradient2: g2)
        let error = Validation.scalarError(value, Reference.categoricalJointEntropy(host1.map(Double.init), host2.map(Double.init), classes: classes))
        try Validation.check("plugin", "\(rows)x\(classes)", error)
        let gradientError = try validateGradients(backend)
        try Validation.check("plugin gradients", "\(rows)x\(classes)", gradientError, tolerance: Validation.gradientTolerance)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            _ = try backend.categoricalEntropy(z1, z2, gradient1: g1, gradient2: g2)
        }
        // The K × K joint (B·K² multiply-adds) and the two gradient products.
        return [Validation.row(context, "plugin.joint forward+backward", "\(rows)x\(classes)", timing,
                               flops: 6 * Double(rows) * Double(classes * classes), error: max(error, gradientError))]
    }

    static func softmaxRows(_ rows: Int, _ classes: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return Reference.softmaxRows(generator.floats(rows * classes).map { 2 * $0 }, RowsShape(rows: rows, columns: classes)).map(Float.init)
    }

    static func validateGradients(_ backend: any Backend) throws -> Double {
        let (b, k) = (24, 4)
        let host1 = softmaxRows(b, k, seed: 0x706c77), host2 = softmaxRows(b, k, seed: 0x706c78)
        let g1 = try backend.makeTensor([b, k]), g2 = try backend.makeTensor([b, k])
        _ = try backend.categoricalEntropy(try backend.upload(host1, shape: [b, k]), try backend.upload(host2, shape: [b, k]),
                                           gradient1: g1, gradient2: g2)
        let (x, y) = (host1.map(Double.init), host2.map(Double.init))
        return max(Validation.gradientError(try backend.download(g1), at: x) { Reference.categoricalJointEntropy($0, y, classes: k) },
                   Validation.gradientError(try backend.download(g2), at: y) { Reference.categoricalJointEntropy(x, $0, classes: k) })
    }
}
