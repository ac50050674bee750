import Foundation
import LDMEngine

/// The ranks of a data-parallel run as a training loop and its tasks see them: which rows of a global batch this
/// rank owns, and the collectives on device tensors, each staged through host memory (read, communicate, write
/// back). Gradients go in buckets of at most ``bucketFloats`` values, each through its own staging buffer kept
/// between steps. With one process every operation is the identity, so code written against a group runs
/// unchanged without MPI.
///
/// A group is used from one thread (the training loop's); it is `Sendable` so that objectives, which are values,
/// can carry it to split their pairwise sums.
public final class ProcessGroup: @unchecked Sendable {
    public let communicator: any Communicator
    /// Values per all-reduce of gradients (4 Mi floats, 16 MiB, by default).
    public var bucketFloats = 1 << 22
    /// Seconds spent in collectives and their staging since the group was made (the loop reports the share).
    public private(set) var communicationSeconds = 0.0
    private var buckets: [[Float]] = []

    public init(_ communicator: any Communicator) {
        self.communicator = communicator
    }

    /// One process: no communication.
    public static var single: ProcessGroup { ProcessGroup(SingleProcess()) }

    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }
    public var isRoot: Bool { rank == 0 }
    public var isDistributed: Bool { size > 1 }

    /// The rows `lowerBound..<upperBound` of a global batch of `batch` this rank owns (an equal share each).
    public func share(of batch: Int, _ what: String = "the batch") throws -> Range<Int> {
        guard batch >= size, batch % size == 0 else {
            throw LDMError.invalidArgument("\(what) of \(batch) does not split evenly over \(size) ranks; use a multiple of \(size)")
        }
        let per = batch / size
        return (rank * per)..<((rank + 1) * per)
    }

    private func timed<T>(_ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }

    /// Replaces every tensor by its sum over the ranks, bucket by bucket (a tensor larger than a bucket goes in pieces).
    public func allReduceSum(_ tensors: [Tensor], on backend: any Backend) throws {
        guard isDistributed else { return }
        try timed {
            var pending: [(tensor: Tensor, offset: Int, count: Int, at: Int)] = []
            var bucket = 0, filled = 0
            func flush() throws {
                guard filled > 0 else { return }
                if buckets.count <= bucket { buckets.append([Float](repeating: 0, count: bucketFloats)) }
                try buckets[bucket].withUnsafeMutableBufferPointer { staging in
                    for piece in pending {
                        let destination = UnsafeMutableBufferPointer(rebasing: staging[piece.at..<(piece.at + piece.count)])
                        if piece.offset == 0 && piece.count == piece.tensor.count {
                            try backend.read(piece.tensor, into: destination)
                        } else {
                            let whole = try backend.download(piece.tensor)
                            _ = destination.initialize(from: whole[piece.offset..<(piece.offset + piece.count)])
                        }
                    }
                    try communicator.allReduce(UnsafeMutableBufferPointer(rebasing: staging[0..<filled]), .sum)
                    for piece in pending {
                        let source = UnsafeBufferPointer(rebasing: staging[piece.at..<(piece.at + piece.count)])
                        if piece.offset == 0 && piece.count == piece.tensor.count {
                            try backend.write(source, to: piece.tensor)
                        } else {
                            var whole = try backend.download(piece.tensor)
                            whole.replaceSubrange(piece.offset..<(piece.offset + piece.count), with: source)
                            try backend.write(whole, to: piece.tensor)
                        }
                    }
                }
                (pending, filled, bucket) = ([], 0, bucket + 1)
            }
            for tensor in tensors {
                var offset = 0
                while offset < tensor.count {
                    if filled == bucketFloats { try flush() }
                    let count = min(tensor.count - offset, bucketFloats - filled)
                    pending.append((tensor, offset, count, filled))
                    (filled, offset) = (filled + count, offset + count)
                }
            }
            try flush()
        }
    }

    /// Root's values of every tensor to every rank (the parameters at the start, a checkpoint on resume).
    public func broadcast(_ tensors: [Tensor], from root: Int = 0, on backend: any Backend) throws {
        guard isDistributed else { return }
        try timed {
            for tensor in tensors {
                var values = try backend.download(tensor)
                try communicator.broadcast(&values, from: root)
                try backend.write(values, to: tensor)
            }
        }
    }

    /// Replaces host values by their sum over the ranks.
    public func allReduceSum(_ values: inout [Double]) throws {
        guard isDistributed else { return }
        try timed { try communicator.allReduce(&values, .sum) }
    }

    /// Root's host values to every rank.
    public func broadcast(_ values: inout [Double], from root: Int = 0) throws {
        guard isDistributed else { return }
        try timed { try communicator.broadcast(&values, from: root) }
    }

    /// The global batch's rows from every rank's share. `local` holds `blocks` blocks of r rows each (two-view
    /// tasks: view 1 of the rank's pairs, then view 2); the result holds the same blocks of size·r rows, each the
    /// ranks' rows in rank order: exactly the tensor one process makes from the whole batch.
    public func allGatherRows(_ local: Tensor, blocks: Int = 1, on backend: any Backend) throws -> Tensor {
        guard isDistributed else { return local }
        return try timed {
            let dims = local.shape.dims
            guard blocks >= 1, let rows = dims.first, rows % blocks == 0 else {
                throw LDMError.shapeMismatch(operation: "allGatherRows", detail: "\(local.shape) is not \(blocks) blocks of rows")
            }
            let block = local.count / blocks
            let gathered = try communicator.allGather(try backend.download(local))
            var ordered = [Float](repeating: 0, count: gathered.count)
            for b in 0..<blocks {
                for r in 0..<size {
                    let from = r * local.count + b * block, to = (b * size + r) * block
                    ordered.replaceSubrange(to..<(to + block), with: gathered[from..<(from + block)])
                }
            }
            return try backend.upload(ordered, shape: TensorShape([rows * size] + dims.dropFirst()))
        }
    }

    /// This rank's rows of a gathered tensor (the inverse of ``allGatherRows(_:blocks:on:)``): the gradient of the
    /// global loss with respect to the rows this rank computed.
    public func ownRows(_ global: Tensor, blocks: Int = 1, on backend: any Backend) throws -> Tensor {
        guard isDistributed else { return global }
        let dims = global.shape.dims
        guard blocks >= 1, let rows = dims.first, rows % (blocks * size) == 0 else {
            throw LDMError.shapeMismatch(operation: "ownRows", detail: "\(global.shape) is not \(blocks) blocks of \(size) ranks' rows")
        }
        let block = global.count / (blocks * size)
        let local = try backend.makeTensor(TensorShape([rows / size] + dims.dropFirst()))
        for b in 0..<blocks {
            try backend.copy(global, offset: (b * size + rank) * block, to: local, offset: b * block, count: block)
        }
        return local
    }

    /// Whether any rank says yes (a stop request), so that every rank stops after the same step.
    public func any(_ flag: Bool) throws -> Bool {
        guard isDistributed else { return flag }
        var value: [Float] = [flag ? 1 : 0]
        try timed { try communicator.allReduce(&value, .max) }
        return value[0] > 0
    }

    /// Refuses to go on unless every rank describes its run with the same `text` (its options and data), naming the
    /// ranks that differ from rank 0.
    public func agree(on text: String, _ what: String = "the options") throws {
        try agree(on: Array(text.utf8), what, hint: "start every rank with the same command")
    }

    /// Refuses to go on unless every rank holds the same bytes (compared by a 64-bit FNV-1a digest), naming the
    /// ranks that differ from rank 0 and adding `hint`.
    public func agree(on bytes: [UInt8], _ what: String, hint: String) throws {
        guard isDistributed else { return }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let digest = (0..<8).map { UInt8(truncatingIfNeeded: hash >> (8 * $0)) }
        let all = try communicator.allGather(digest)
        let differing = (1..<size).filter { Array(all[(8 * $0)..<(8 * $0 + 8)]) != Array(all[0..<8]) }
        guard differing.isEmpty else {
            throw LDMError.communication(rank: rank, size: size, problem: "\(what) of rank\(differing.count > 1 ? "s" : "") "
                + differing.map(String.init).joined(separator: ", ") + " differ from rank 0's; " + hint)
        }
    }
}
