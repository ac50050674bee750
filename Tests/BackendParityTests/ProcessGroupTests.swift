import Foundation
import LDMEngine
import LDMParallel
import LDMReference
import Testing

/// A rank of a world of identical ranks, in one process: every rank holds what this one holds, so an all-gather
/// repeats this rank's values `size` times (each copy marked by its rank) and an all-reduce sums `size` copies.
final class MirroredRanks: Communicator {
    let rank: Int, size: Int
    var localRank: Int { rank }
    /// Added to rank r's copy in an all-gather, so the order of the gathered blocks shows.
    static func mark(_ r: Int) -> Float { Float(1000 * r) }

    init(rank: Int, size: Int) { (self.rank, self.size) = (rank, size) }

    func allReduce<T: CommunicatedScalar>(_ values: UnsafeMutableBufferPointer<T>, _ reduction: Reduction) throws {
        guard reduction == .sum else { return }
        for i in values.indices {
            if let x = values[i] as? Float { values[i] = Float(size) * x as! T }
            if let x = values[i] as? Double { values[i] = Double(size) * x as! T }
        }
    }

    func allGather<T: CommunicatedScalar>(_ values: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>) throws {
        for r in 0..<size {
            for (i, value) in values.enumerated() {
                result[r * values.count + i] = (value as? Float).map { $0 - Self.mark(rank) + Self.mark(r) as! T } ?? value
            }
        }
    }

    func broadcast<T: CommunicatedScalar>(_ values: UnsafeMutableBufferPointer<T>, from root: Int) throws {}
    func barrier() throws {}
    func abort(code: Int32) -> Never { fatalError("abort \(code)") }
}

@Suite("Process group")
struct ProcessGroupTests {
    @Test func oneProcessIsTheIdentity() throws {
        let backend = try TestBackends.cpu.get(), group = ProcessGroup.single
        let x = try backend.upload((0..<12).map(Float.init), shape: [6, 2])
        #expect(try group.share(of: 6) == 0..<6)
        #expect(try backend.download(try group.allGatherRows(x, blocks: 2, on: backend)) == (0..<12).map(Float.init))
        #expect(try backend.download(try group.ownRows(x, blocks: 2, on: backend)) == (0..<12).map(Float.init))
        #expect(try group.any(true) && !(try group.any(false)))
        try group.agree(on: "anything")
    }

    /// Rank 1 of 3 owns rows 4..<8 of a batch of 12, and a batch of 13 is refused.
    @Test func sharesAreEqualAndContiguous() throws {
        let group = ProcessGroup(MirroredRanks(rank: 1, size: 3))
        #expect(try group.share(of: 12) == 4..<8)
        #expect(throws: LDMError.self) { try group.share(of: 13) }
        #expect(throws: LDMError.self) { try group.share(of: 2) }
    }

    /// Gathering two blocks (view 1, view 2) puts every rank's rows of a block together in rank order, as one
    /// process lays out the whole batch; ownRows takes this rank's rows back out.
    @Test func gatheredRowsAreLaidOutAsOneProcessLaysOutTheBatch() throws {
        let backend = try TestBackends.cpu.get(), (size, rank, r, w) = (3, 2, 2, 2)
        let group = ProcessGroup(MirroredRanks(rank: rank, size: size))
        // Rank q's rows: block b, row i, column j = 100·b + 10·i + j, plus q's mark.
        func rows(of q: Int) -> [Float] {
            var values: [Float] = []
            for b in 0..<2 {
                for i in 0..<r {
                    for j in 0..<w { values.append(Float(100 * b + 10 * i + j) + MirroredRanks.mark(q)) }
                }
            }
            return values
        }
        let local = rows(of: rank), block = r * w
        let gathered = try group.allGatherRows(try backend.upload(local, shape: [2 * r, w]), blocks: 2, on: backend)
        #expect(gathered.shape == [2 * size * r, w])
        var expected: [Float] = []
        for b in 0..<2 {
            for q in 0..<size { expected += rows(of: q)[(b * block)..<((b + 1) * block)] }
        }
        #expect(try backend.download(gathered) == expected)
        #expect(try backend.download(try group.ownRows(gathered, blocks: 2, on: backend)) == local)
    }

    /// Buckets smaller than the tensors: every value is still reduced exactly once, however the tensors straddle
    /// the buckets.
    @Test func allReduceInBucketsReducesEveryValueOnce() throws {
        let backend = try TestBackends.cpu.get(), group = ProcessGroup(MirroredRanks(rank: 0, size: 2))
        group.bucketFloats = 5
        var generator = SeededGenerator(seed: 3)
        let values = [3, 12, 1, 5, 7].map { n in (0..<n).map { _ in Float(generator.normal()) } }
        let tensors = try values.map { try backend.upload($0, shape: [$0.count]) }
        try group.allReduceSum(tensors, on: backend)
        for (tensor, original) in zip(tensors, values) {
            #expect(try backend.download(tensor) == original.map { 2 * $0 })
        }
        #expect(group.communicationSeconds > 0)
    }

    /// Augmenting a rank's share of a batch (its images, their offset in the batch and the batch's size) makes
    /// exactly the views of those images that augmenting the whole batch makes, on every backend.
    @Test(arguments: TestBackends.all)
    func aShareOfTheBatchGetsTheWholeBatchsViews(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var whole = AugmentShape(batch: 6, height: 8, width: 8, channels: 2)
        (whole.brightness, whole.contrast, whole.noise, whole.seed, whole.counter) = (0.4, 0.4, 0.1, 11, 7)
        var generator = SeededGenerator(seed: 5)
        let pixels = (0..<(6 * 8 * 8 * 2)).map { _ in Float(generator.uniform()) }
        let views = { (shape: AugmentShape, first: Int) throws -> [Float] in
            let count = shape.batch * 8 * 8 * 2
            let images = try backend.upload(Array(pixels[(first * 128)..<(first * 128 + count)]), shape: [shape.batch, 8, 8, 2])
            let out = try backend.makeTensor(shape.outputShape)
            try backend.augment(images, parameters: try backend.makeTensor(shape.parameterShape), into: out, shape)
            return try backend.download(out)
        }
        let all = try views(whole, 0), perView = 8 * 8 * 2
        for first in [0, 3] {
            var share = whole
            (share.batch, share.imageOffset, share.totalBatch) = (3, first, 6)
            let mine = try views(share, first)
            // View v < 3 is image first + v's first view (view first + v of the whole batch), view 3 + v its second.
            let expected = Array(all[(first * perView)..<((first + 3) * perView)]) + Array(all[((6 + first) * perView)..<((9 + first) * perView)])
            #expect(mine == expected, "\(name): images \(first)..<\(first + 3)")
        }
        var outside = whole
        (outside.batch, outside.imageOffset, outside.totalBatch) = (3, 4, 6)
        #expect(throws: LDMError.self) { try outside.validate("augment") }
    }
}
