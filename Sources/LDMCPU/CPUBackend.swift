import CBLAS
import CLDMSupport
import Foundation
import LDMEngine

/// The CPU backend: float32 kernels on host memory, multi-threaded, with OpenBLAS for matrix products.
///
/// Users without a GPU train on it and CI runs it, so it is built for speed: SGEMM through OpenBLAS (with its
/// AVX-512 kernels selected where the CPU has them), other kernels vectorised and split across cores.
/// Kernels run synchronously; `synchronize()` is a no-op.
///
/// ```swift
/// let cpu = try CPUBackend()
/// let x = try cpu.upload([3, 4, 1, 0], shape: [2, 2])
/// let norms = try cpu.makeTensor([2])
/// try cpu.reduceRows(x, into: norms, .norm, RowsShape(rows: 2, columns: 2))   // [5, 1]
/// ```
public final class CPUBackend: Backend, @unchecked Sendable {
    public let info: BackendInfo
    let pool: BufferPool<CPUBuffer>
    /// Threads the kernels split work across.
    public let threads: Int

    /// OpenBLAS's kernel table is chosen once per process, before any BLAS call, and its own threading switched
    /// off: the backend splits work over its threads itself (CPUBackend+BLAS.swift says why).
    static let blasCore: String = {
        let core = String(cString: ldm_openblas_select_kernels())
        openblas_set_num_threads(1)
        return core
    }()

    /// - Parameter poolBytes: the most freed memory kept for reuse (default 2 GiB: a convolutional training step
    ///   allocates about a gigabyte at batch 256, and fresh pages cost the kernel's zeroing).
    public init(poolBytes: Int = 2 << 30) throws {
        // The cores this process may use, not the machine's: a rank that mpirun binds to one core runs one thread.
        let available = Int(ldm_cpu_available())
        threads = available > 0 ? min(available, ProcessInfo.processInfo.activeProcessorCount) : ProcessInfo.processInfo.activeProcessorCount
        pool = BufferPool(capacityBytes: poolBytes)
        info = BackendInfo(kind: .cpu, deviceName: CPUBackend.cpuModelName(), computeUnits: threads,
                           globalMemoryBytes: Int(ProcessInfo.processInfo.physicalMemory),
                           details: ["blas": "OpenBLAS \(CPUBackend.blasCore)", "threads": "\(threads)"])
    }

    deinit {
        for entry in pool.drain() { free(entry.handle.pointer) }
    }

    // MARK: Memory

    public func uncheckedMakeTensor(_ shape: TensorShape) throws -> Tensor {
        // Round to whole cache lines so buffers of nearby sizes share pool slots.
        let bytes = max(64, (shape.count * MemoryLayout<Float>.stride + 63) / 64 * 64)
        let buffer = try pool.take(bytes: bytes) ?? allocate(bytes: bytes)
        return Tensor(shape: shape, storage: CPUStorage(buffer: buffer, byteCount: bytes, owner: self))
    }

    private func allocate(bytes: Int) throws -> CPUBuffer {
        for attempt in 0..<2 {
            var raw: UnsafeMutableRawPointer?
            if posix_memalign(&raw, 64, bytes) == 0, let raw { return CPUBuffer(pointer: raw) }
            // Release what the pool keeps and try once more before giving up.
            if attempt == 0 { for entry in pool.drain() { free(entry.handle.pointer) } }
        }
        throw LDMError.outOfMemory(bytes: bytes, device: info.description)
    }

    func floats(_ tensor: Tensor, _ operation: String) throws -> UnsafeMutablePointer<Float> {
        try storage(of: tensor, as: CPUStorage.self, for: operation).floats
    }

    public func uncheckedWrite(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor) throws {
        let destination = try floats(tensor, "write")
        if let base = values.baseAddress { destination.update(from: base, count: values.count) }
    }

    public func uncheckedRead(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) throws {
        let source = try floats(tensor, "read")
        if let base = values.baseAddress { base.update(from: source, count: values.count) }
    }

    public func uncheckedCopy(_ source: Tensor, offset sourceOffset: Int, to destination: Tensor, offset destinationOffset: Int,
                     count: Int) throws {
        let from = try floats(source, "copy"), to = try floats(destination, "copy")
        (to + destinationOffset).update(from: from + sourceOffset, count: count)
    }

    public func fill(_ tensor: Tensor, with value: Float) throws {
        try floats(tensor, "fill").update(repeating: value, count: tensor.count)
    }

    public func synchronize() throws {}

    /// Bytes of freed buffers kept for reuse.
    public var pooledBytes: Int { pool.cachedBytes }

    /// Calls `body` with the tensor's host memory (valid only during the call).
    public func withUnsafePointer<R>(to tensor: Tensor, _ body: (UnsafeMutablePointer<Float>) throws -> R) throws -> R {
        try body(try floats(tensor, "withUnsafePointer"))
    }

    // MARK: Device facts

    static func cpuModelName() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":")
        else { return "CPU" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}

/// A raw, 64-byte aligned host allocation (what the pool keeps).
struct CPUBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
}

/// Host memory of one tensor; gives its buffer back to the backend's pool when the last tensor goes.
final class CPUStorage: TensorStorage, @unchecked Sendable {
    let buffer: CPUBuffer
    let byteCount: Int
    /// Strong: the backend (and its pool) outlives every tensor it made.
    let owner: CPUBackend

    init(buffer: CPUBuffer, byteCount: Int, owner: CPUBackend) {
        self.buffer = buffer
        self.byteCount = byteCount
        self.owner = owner
    }

    var ownerID: ObjectIdentifier { ObjectIdentifier(owner) }
    var ownerName: String { owner.info.description }
    var floats: UnsafeMutablePointer<Float> { buffer.pointer.assumingMemoryBound(to: Float.self) }

    deinit {
        for evicted in owner.pool.give(buffer, bytes: byteCount) { free(evicted.handle.pointer) }
    }
}
