import LDMEngine
import LDMReference

/// augment.cl: two views of each of 256 28 × 28 images (crop, flip, brightness and contrast jitter, noise), GB/s of
/// the images read and the views written; the views validated against the Double definition on the same draws.
public enum AugmentBenchmark {
    public static func run(_ context: BenchmarkContext, batch: Int = 256) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0xa06)
        let host = (0..<(batch * 784)).map { _ in Float(generator.uniform()) }
        var s = AugmentShape(batch: batch, height: 28, width: 28, channels: 1)
        (s.brightness, s.contrast, s.noise, s.seed) = (0.4, 0.4, 0.05, 7)
        let images = try backend.upload(host, shape: [batch, 28, 28, 1]), parameters = try backend.makeTensor(s.parameterShape)
        let views = try backend.makeTensor(s.outputShape)
        try backend.augment(images, parameters: parameters, into: views, s)
        let error = Validation.relativeError(try backend.download(views), Reference.augment(host.map(Double.init), s).views)
        try Validation.check("augment", "\(s)", error)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) {
            s.counter += 1
            try backend.augment(images, parameters: parameters, into: views, s)
        }
        // The images read for the means and again (bilinear taps, mostly from cache) for the views, the views written.
        return [Validation.row(context, "augment", "\(s)", timing, bytes: 4.0 * Double(2 * s.inputCount + s.outputCount), error: error)]
    }
}
