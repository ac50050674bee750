import Foundation
import LDMEngine

/// The element types a ``Communicator`` moves.
public protocol CommunicatedScalar: Sendable {
    /// The transport's type tag (ldm_mpi.h's LDM_MPI_FLOAT, LDM_MPI_DOUBLE, LDM_MPI_BYTE).
    static var typeTag: Int32 { get }
}
extension Float: CommunicatedScalar { public static var typeTag: Int32 { 0 } }
extension Double: CommunicatedScalar { public static var typeTag: Int32 { 1 } }
extension UInt8: CommunicatedScalar { public static var typeTag: Int32 { 2 } }

/// How ``Communicator/allReduce(_:_:)`` combines the ranks' values.
public enum Reduction: Int32, Sendable {
    case sum = 0, max = 1, min = 2
}

/// The processes of a data-parallel run and the collectives between them, on host buffers. Every rank must call
/// the same collectives in the same order with the same counts; a collective that does not complete within the
/// communicator's timeout throws ``LDMError/communication(rank:size:problem:)``.
///
/// ```swift
/// let world = try MPICommunicator()                   // under mpirun; SingleProcess() otherwise
/// var gradient: [Float] = ...
/// try world.allReduce(&gradient, .sum)                // every rank now holds the sum
/// ```
public protocol Communicator: AnyObject {
    /// This process's rank in 0..<size.
    var rank: Int { get }
    var size: Int { get }
    /// This process's rank among those on its host: which of the host's devices it takes.
    var localRank: Int { get }
    /// Combines `values` element-wise over the ranks, in place.
    func allReduce<T: CommunicatedScalar>(_ values: UnsafeMutableBufferPointer<T>, _ reduction: Reduction) throws
    /// Every rank's `values` (the same count on each), rank by rank, into `result` (size × count).
    func allGather<T: CommunicatedScalar>(_ values: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>) throws
    /// `root`'s `values` to every rank.
    func broadcast<T: CommunicatedScalar>(_ values: UnsafeMutableBufferPointer<T>, from root: Int) throws
    func barrier() throws
    /// Ends every rank of the run with exit status `code` (after this rank reported why).
    func abort(code: Int32) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    public func allReduce<T: CommunicatedScalar>(_ values: inout [T], _ reduction: Reduction) throws {
        try values.withUnsafeMutableBufferPointer { try allReduce($0, reduction) }
    }

    public func allGather<T: CommunicatedScalar & Numeric>(_ values: [T]) throws -> [T] {
        var result = [T](repeating: 0, count: values.count * size)
        try values.withUnsafeBufferPointer { send in try result.withUnsafeMutableBufferPointer { try allGather(send, into: $0) } }
        return result
    }

    public func broadcast<T: CommunicatedScalar>(_ values: inout [T], from root: Int = 0) throws {
        try values.withUnsafeMutableBufferPointer { try broadcast($0, from: root) }
    }
}

/// A run of one process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localRank: Int { 0 }
    public func allReduce<T: CommunicatedScalar>(_ values: UnsafeMutableBufferPointer<T>, _ reduction: Reduction) throws {}
    public func allGather<T: CommunicatedScalar>(_ values: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>) throws {
        guard result.count == values.count else {
            throw LDMError.shapeMismatch(operation: "allGather", detail: "\(values.count) values into \(result.count)")
        }
        _ = result.initialize(from: values)
    }
    public func broadcast<T: CommunicatedScalar>(_ values: UnsafeMutableBufferPointer<T>, from root: Int) throws {}
    public func barrier() throws {}
    public func abort(code: Int32) -> Never { exit(code) }
}
