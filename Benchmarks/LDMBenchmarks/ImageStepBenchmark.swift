import Foundation
import LDMData
import LDMEngine
import LDMReference
import LDMTraining

/// One training step of `ldm train image`'s reference recipe (batch 256 → 512 views of 28 × 28, cnn 32-64-128,
/// projector 128-128-64, simclr, Adam): gather, augment, forward, NT-Xent, backward and the optimiser, on random
/// images. GFLOP/s count the products of the convolutions and the projector (forward, weight and input gradients,
/// no input gradient for the first layer). Validated by the step's loss at initialisation: NT-Xent of near-random
/// directions is close to log(2B − 1), so a step that computes something else stands out; the kernels themselves are
/// validated by their own cases.
public enum ImageStepBenchmark {
    public static func run(_ context: BenchmarkContext, batch: Int = 256) throws -> [BenchmarkRow] {
        let backend = context.backend
        var generator = SeededGenerator(seed: 0x57e9)
        let count = 4 * batch
        let images = ImageSet(pixels: (0..<(count * 784)).map { _ in Float(generator.uniform()) }, labels: (0..<count).map { $0 % 10 },
                              count: count, height: 28, width: 28, channels: 1)
        var configuration = ImageConfiguration()
        configuration.batch = batch
        let task = try ImageTask(configuration, data: try ImageDataset(train: images, test: images.prefix(batch), source: "random"),
                                 on: backend)
        let optimizer = try configuration.run.optimizer.make(task.parameters, weightDecay: 0, on: backend)
        try task.beginEpoch(order: Array(0..<count))
        var step = 0
        var firstLoss = 0.0
        let run = {
            for parameter in task.parameters { try backend.fill(parameter.gradient, with: 0) }
            let context = StepContext(epoch: 0, batchIndex: step % 4, step: step, totalSteps: 1_000_000)
            let output = try task.step([], context)
            if step == 0 { firstLoss = output.loss }
            try optimizer.step(rate: 1e-3)
            try task.afterUpdate(context)
            step += 1
        }
        try run()
        let expected = log(Double(2 * batch - 1))
        let error = abs(firstLoss - expected) / expected
        try Validation.check("image step", "batch \(batch)", error, tolerance: 0.1)
        let timing = try Timing.measure(backend, minSeconds: context.minSeconds) { try run() }
        return [Validation.row(context, "image train step", "cnn 32-64-128, batch \(batch), simclr", timing,
                               flops: flops(batch: batch), error: error)]
    }

    /// The products of one step: each convolution's forward, weight gradient and (after the first) input gradient,
    /// and the projector's two Linear layers likewise.
    static func flops(batch: Int) -> Double {
        let views = 2 * batch
        let convolutions = [
            Conv2dShape(batch: views, height: 28, width: 28, inputChannels: 1, outputChannels: 32, kernel: 3, padding: 1),
            Conv2dShape(batch: views, height: 28, width: 28, inputChannels: 32, outputChannels: 64, kernel: 3, stride: 2, padding: 1),
            Conv2dShape(batch: views, height: 14, width: 14, inputChannels: 64, outputChannels: 128, kernel: 3, stride: 2, padding: 1),
        ]
        let conv = convolutions.enumerated().reduce(0.0) { $0 + ($1.offset == 0 ? 2 : 3) * $1.element.flops }
        let projector = 3 * 2 * Double(views) * Double(128 * 128 + 128 * 64)
        return conv + projector
    }
}
