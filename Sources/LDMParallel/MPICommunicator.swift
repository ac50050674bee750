import CLDMMPI
import Foundation
import LDMEngine

/// The ranks of a run started by Open MPI's `mpirun`, over MPI_COMM_WORLD. libmpi is loaded when the first
/// communicator is made (ldm links no MPI library, so a plain run needs none); every collective is polled until it
/// completes or `timeout` seconds pass, so a rank never waits for ever on a peer that died or hangs.
public final class MPICommunicator: Communicator {
    public let rank: Int, size: Int, localRank: Int
    /// Seconds a collective may wait for the other ranks before it fails.
    public let timeout: Double
    nonisolated(unsafe) private static var initialized: (rank: Int, size: Int)?

    /// Whether this process was started by mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE in every rank's environment).
    public static var launchedByMPI: Bool {
        ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil
    }

    /// Loads Open MPI and joins the world (once per process); `library` overrides where libmpi is found.
    public init(timeout: Double = 600, library: String? = ProcessInfo.processInfo.environment["LDM_MPI_LIBRARY"]) throws {
        guard timeout.isFinite, timeout > 0 else { throw LDMError.invalidArgument("MPI: the timeout must be positive, got \(timeout)") }
        if let world = Self.initialized {
            (rank, size) = world
        } else {
            var message = [CChar](repeating: 0, count: 512)
            guard ldm_mpi_load(library, &message, message.count) == 0 else {
                throw LDMError.communication(rank: 0, size: 1, problem: Self.text(message))
            }
            var (r, s) = (Int32(0), Int32(0))
            let code = ldm_mpi_init(&r, &s)
            guard code == 0 else { throw LDMError.communication(rank: 0, size: 1, problem: "MPI_Init_thread: " + Self.describe(code)) }
            (rank, size) = (Int(r), Int(s))
            Self.initialized = (rank, size)
        }
        localRank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_RANK"].flatMap { Int($0) } ?? 0
        self.timeout = timeout
    }

    /// A C string buffer's text (up to its NUL).
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func describe(_ code: Int32) -> String {
        var message = [CChar](repeating: 0, count: 512)
        ldm_mpi_error_string(code, &message, message.count)
        return Self.text(message)
    }

    /// Throws for a failed collective; a timeout names how long this rank waited.
    private func check(_ code: Int32, _ operation: String, count: Int) throws {
        guard code != 0 else { return }
        let problem = code == -1
            ? "\(operation) of \(count) values did not complete within \(timeout) s: another rank failed, hangs or is still busy "
              + "(raise --mpi-timeout for long evaluations)"
            : "\(operation) failed: \(Self.describe(code))"
        throw LDMError.communication(rank: rank, size: size, problem: problem)
    }

    /// MPI counts are 32-bit; larger buffers go in pieces.
    private static let piece = Int(Int32.max / 2)

    public func allReduce<T: CommunicatedScalar>(_ values: UnsafeMutableBufferPointer<T>, _ reduction: Reduction) throws {
        var start = 0
        while start < values.count {
            let n = min(Self.piece, values.count - start)
            try check(ldm_mpi_allreduce(values.baseAddress! + start, Int32(n), T.typeTag, reduction.rawValue, timeout), "all-reduce", count: n)
            start += n
        }
    }

    public func allGather<T: CommunicatedScalar>(_ values: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>) throws {
        let (product, overflow) = values.count.multipliedReportingOverflow(by: size)
        guard !overflow, result.count == product, values.count <= Self.piece else {
            throw LDMError.shapeMismatch(operation: "allGather", detail: "\(values.count) values from each of \(size) ranks into \(result.count)")
        }
        guard let base = values.baseAddress, let out = result.baseAddress else { return }
        try check(ldm_mpi_allgather(base, out, Int32(values.count), T.typeTag, timeout), "all-gather", count: values.count)
    }

    public func broadcast<T: CommunicatedScalar>(_ values: UnsafeMutableBufferPointer<T>, from root: Int) throws {
        guard (0..<size).contains(root) else { throw LDMError.invalidArgument("broadcast: root \(root) is not a rank of \(size)") }
        var start = 0
        while start < values.count {
            let n = min(Self.piece, values.count - start)
            try check(ldm_mpi_broadcast(values.baseAddress! + start, Int32(n), T.typeTag, Int32(root), timeout), "broadcast", count: n)
            start += n
        }
    }

    public func barrier() throws { try check(ldm_mpi_barrier(timeout), "barrier", count: 0) }

    /// Leaves the world cleanly at the end of a run (MPI_Finalize waits for every rank).
    public func finish() { _ = ldm_mpi_finalize() }

    public func abort(code: Int32) -> Never {
        ldm_mpi_abort(code)
        exit(code)
    }
}
