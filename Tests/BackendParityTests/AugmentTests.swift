import Foundation
import LDMEngine
import LDMReference
import Testing

/// augment.cl on every backend: the views and their parameters against the Double definition driven by the same
/// counter-based draws (so the backends make the same views for a seed), the identity and flip cases exactly, new
/// views for a new counter. The kernel has no gradient: it makes the data, and nothing is trained through it.
@Suite("augment.cl")
struct AugmentTests {
    static func images(_ count: Int, _ h: Int, _ w: Int, _ c: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<(count * h * w * c)).map { _ in Float(generator.uniform()) }
    }

    static var jittered: AugmentShape {
        var s = AugmentShape(batch: 5, height: 9, width: 7, channels: 2, outputHeight: 6, outputWidth: 8)
        (s.scale, s.ratio, s.flipProbability) = (0.3...1, 0.5...2, 0.5)
        (s.brightness, s.contrast, s.noise, s.mean, s.standardDeviation) = (0.4, 0.4, 0.1, 0.3, 0.5)
        (s.seed, s.counter) = (0xfeed_beef_0123, 1 << 33 + 7)
        return s
    }

    @Test(arguments: TestBackends.all)
    func viewsMatchTheDoubleDefinition(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let s = Self.jittered, pixels = Self.images(s.batch, s.height, s.width, s.channels, seed: 4)
        let parameters = try backend.makeTensor(s.parameterShape), views = try backend.makeTensor(s.outputShape)
        try backend.augment(try backend.upload(pixels, shape: [s.batch, s.height, s.width, s.channels]), parameters: parameters,
                            into: views, s)
        let expected = Reference.augment(pixels.map(Double.init), s)
        expectClose(try backend.download(parameters), expected.parameters, tolerance: Tolerance.float32, "parameters on \(name)")
        expectClose(try backend.download(views), expected.views, tolerance: Tolerance.float32, "views on \(name)")
        // The draws reach both sides of every choice: some views flip, some crops are smaller than the image.
        let p = expected.parameters
        let flips = stride(from: 4, to: p.count, by: 8).map { p[$0] }
        #expect(flips.contains(0) && flips.contains(1))
        #expect(stride(from: 2, to: p.count, by: 8).contains { p[$0] < Double(s.width) - 0.5 })
    }

    @Test(arguments: TestBackends.all)
    func aWholeImageCropWithoutJitterIsTheIdentityAndFlipMirrors(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var s = AugmentShape(batch: 3, height: 5, width: 6, channels: 1)
        (s.scale, s.ratio, s.flipProbability) = (1...1, Float(6.0 / 5)...Float(6.0 / 5), 0)
        let pixels = Self.images(3, 5, 6, 1, seed: 9), images = try backend.upload(pixels, shape: [3, 5, 6, 1])
        let parameters = try backend.makeTensor(s.parameterShape), views = try backend.makeTensor(s.outputShape)
        try backend.augment(images, parameters: parameters, into: views, s)
        let identity = try backend.download(views)
        expectClose(identity, (pixels + pixels).map(Double.init), tolerance: 1e-6, "identity views on \(name)")
        s.flipProbability = 1
        try backend.augment(images, parameters: parameters, into: views, s)
        var mirrored: [Double] = []
        for view in 0..<6 {
            for y in 0..<5 { for x in 0..<6 { mirrored.append(Double(pixels[(view % 3) * 30 + y * 6 + 5 - x])) } }
        }
        expectClose(try backend.download(views), mirrored, tolerance: 1e-6, "flipped views on \(name)")
    }

    @Test(arguments: TestBackends.all)
    func theSameSeedAndCounterRepeatAndANewCounterChangesTheViews(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var s = Self.jittered
        let images = try backend.upload(Self.images(s.batch, s.height, s.width, s.channels, seed: 5),
                                        shape: [s.batch, s.height, s.width, s.channels])
        let parameters = try backend.makeTensor(s.parameterShape), views = try backend.makeTensor(s.outputShape)
        let make = { (s: AugmentShape) throws -> [Float] in
            try backend.augment(images, parameters: parameters, into: views, s)
            return try backend.download(views)
        }
        let first = try make(s)
        #expect(try make(s) == first)
        s.counter += 1
        let next = try make(s)
        #expect(zip(first, next).filter { $0 != $1 }.count > first.count / 2)
        // The two views of one image differ too (different streams).
        let half = first.count / 2, perView = half / s.batch
        #expect(first[0..<perView] != first[half..<(half + perView)])
    }

    @Test func badAugmentSettingsAreRefused() throws {
        let backend = try TestBackends.named("cpu")
        let images = try backend.makeTensor([5, 9, 7, 2])
        for change in [{ (s: inout AugmentShape) in s.scale = 0...1 }, { $0.scale = 0.5...2 }, { $0.ratio = 0...1 },
                       { $0.flipProbability = 2 }, { $0.brightness = .nan }, { $0.noise = -1 }, { $0.standardDeviation = 0 }] {
            var s = Self.jittered
            change(&s)
            #expect(throws: LDMError.self) {
                try backend.augment(images, parameters: try backend.makeTensor(s.parameterShape),
                                    into: try backend.makeTensor(s.outputShape), s)
            }
        }
    }
}
