import COpenCL
import Foundation
import LDMEngine

/// The OpenCL backend: one device, one context, one in-order queue with profiling enabled.
///
/// Kernels come from `Kernels/*.cl` (embedded at build time, see `KernelSources`), are compiled once per
/// (file, build options) on this device and cached. Matrix products go through CLBlast by default. Every
/// OpenCL status becomes an `LDMError` naming the call and the code; nothing traps.
///
/// ```swift
/// let gpu = try OpenCLBackend()            // LDM_OPENCL_DEVICE or the first GPU, else device 0
/// let x = try gpu.upload([1, 2, 3], shape: [3])
/// try gpu.scale(x, by: 2, into: x)
/// print(try gpu.download(x))               // [2, 4, 6]
/// ```
public final class OpenCLBackend: Backend, @unchecked Sendable {
    /// Which implementation runs `matmul`.
    public enum MatmulEngine: String, Sendable, CaseIterable {
        /// CLBlast's tuned GEMM (the default).
        case clblast
        /// The engine's own `Kernels/matmul.cl`.
        case kernel
    }

    /// Which kernels of `Kernels/lse.cl` run the fused pairwise log-sum-exp.
    public enum LSEKernels: String, Sendable, CaseIterable {
        /// TILE × TILE work-groups staging tiles in local memory (the default on GPUs).
        case tiled
        /// One work-item per block of rows, products in 16-lane registers (the default on CPU devices).
        case blocked
    }

    public let info: BackendInfo
    public let device: OpenCLDeviceRecord
    /// The `matmul` implementation; `LDM_MATMUL=kernel` selects `Kernels/matmul.cl` by default.
    public let matmulEngine: MatmulEngine
    /// The log-sum-exp kernels; `LDM_LSE=tiled|blocked` overrides the device type's default.
    public let lseKernels: LSEKernels

    let context: cl_context
    let queue: cl_command_queue
    let pool: BufferPool<OpenCLMemory>
    /// Serialises kernel-argument setting and enqueueing (a `cl_kernel` is not thread-safe) and guards the
    /// program cache and the byte count.
    let lock = NSLock()
    var programs: [ProgramKey: cl_program] = [:]
    var kernels: [KernelKey: cl_kernel] = [:]
    /// Bytes held by live tensors and the pool; allocations beyond the device's memory fail early and readably.
    var allocatedBytes = 0

    /// Opens `device` (an index from `ldm devices`), else `LDM_OPENCL_DEVICE`, else the first GPU, else 0.
    /// `lse` picks the log-sum-exp kernels (default: `LDM_LSE`, else blocked on CPU devices and tiled elsewhere).
    public init(device index: Int? = nil, matmul: MatmulEngine? = nil, lse: LSEKernels? = nil, poolBytes: Int? = nil) throws {
        let record = try OpenCLDevices.choose(index)
        device = record
        info = record.info
        let environment = ProcessInfo.processInfo.environment
        matmulEngine = matmul ?? environment["LDM_MATMUL"].flatMap(MatmulEngine.init) ?? .clblast
        lseKernels = lse ?? environment["LDM_LSE"].flatMap(LSEKernels.init)
            ?? (record.info.details["type"] == "CPU" ? .blocked : .tiled)
        pool = BufferPool(capacityBytes: poolBytes ?? record.globalMemoryBytes / 4)

        var status: cl_int = CL_SUCCESS
        var deviceID: cl_device_id? = record.deviceID
        guard let context = clCreateContext(nil, 1, &deviceID, nil, nil, &status) else {
            try checkCL(status, "clCreateContext", device: record.info.description)
            throw LDMError.deviceFailure(call: "clCreateContext", code: status, name: OpenCLStatus.name(status),
                                         device: record.info.description)
        }
        let properties = cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE)
        guard let queue = clCreateCommandQueue(context, record.deviceID, properties, &status),
              status == CL_SUCCESS else {
            clReleaseContext(context)
            throw LDMError.deviceFailure(call: "clCreateCommandQueue", code: status, name: OpenCLStatus.name(status),
                                         device: record.info.description)
        }
        self.context = context
        self.queue = queue
    }

    deinit {
        clFinish(queue)
        for kernel in kernels.values { clReleaseKernel(kernel) }
        for program in programs.values { clReleaseProgram(program) }
        for entry in pool.drain() { clReleaseMemObject(entry.handle.mem) }
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    /// Waits for every enqueued command.
    public func synchronize() throws {
        try checkCL(clFinish(queue), "clFinish", device: info.description)
    }

    /// Throws unless `count` fits the kernels' 32-bit index arithmetic.
    func requireInt32(_ count: Int, _ operation: String) throws -> Int32 {
        guard count <= Int(Int32.max) else {
            throw LDMError.invalidArgument("\(operation): \(count) elements exceed the OpenCL kernels' 32-bit indexing")
        }
        return Int32(count)
    }
}
