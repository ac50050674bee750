import COpenCL
import LDMEngine

/// A `cl_mem` as the pool keeps it.
struct OpenCLMemory: @unchecked Sendable {
    let mem: cl_mem
}

/// Device memory of one tensor; returns its buffer to the backend's pool when the last tensor goes.
final class OpenCLStorage: TensorStorage, @unchecked Sendable {
    let memory: OpenCLMemory
    let byteCount: Int
    /// Strong: the backend (its context, queue and pool) outlives every tensor it made.
    let owner: OpenCLBackend

    init(memory: OpenCLMemory, byteCount: Int, owner: OpenCLBackend) {
        self.memory = memory
        self.byteCount = byteCount
        self.owner = owner
    }

    var ownerID: ObjectIdentifier { ObjectIdentifier(owner) }
    var ownerName: String { owner.info.description }
    var mem: cl_mem { memory.mem }

    deinit {
        // Reusing a buffer is safe while earlier commands still read it: the queue is in order.
        for evicted in owner.pool.give(memory, bytes: byteCount) { owner.release(evicted.handle, bytes: evicted.bytes) }
    }
}

extension OpenCLBackend {
    public func uncheckedMakeTensor(_ shape: TensorShape) throws -> Tensor {
        // Whole 256-byte blocks: nearby sizes share pool slots, and sub-allocations stay aligned.
        let bytes = max(256, (shape.count * MemoryLayout<Float>.stride + 255) / 256 * 256)
        let memory = try pool.take(bytes: bytes) ?? allocate(bytes: bytes)
        return Tensor(shape: shape, storage: OpenCLStorage(memory: memory, byteCount: bytes, owner: self))
    }

    private func allocate(bytes: Int) throws -> OpenCLMemory {
        guard bytes <= device.maxAllocationBytes else {
            throw LDMError.outOfMemory(bytes: bytes, device: info.description
                + " (largest single allocation \(LDMError.formatBytes(device.maxAllocationBytes)))")
        }
        for attempt in 0..<2 {
            // OpenCL allocates lazily, so also refuse up front what cannot fit in the device's memory.
            let fits = lock.withLock { allocatedBytes + bytes <= device.globalMemoryBytes }
            if fits {
                var status: cl_int = CL_SUCCESS
                let mem = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status)
                if let mem, status == CL_SUCCESS {
                    lock.withLock { allocatedBytes += bytes }
                    return OpenCLMemory(mem: mem)
                }
                let outOfMemory = [CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_OUT_OF_RESOURCES, CL_OUT_OF_HOST_MEMORY]
                if !outOfMemory.contains(status) {
                    try checkCL(status, "clCreateBuffer(\(bytes) bytes)", device: info.description)
                }
            }
            if attempt == 0 { releasePool() }
        }
        throw LDMError.outOfMemory(bytes: bytes, device: info.description
            + " (\(LDMError.formatBytes(allocatedBytes)) of \(LDMError.formatBytes(device.globalMemoryBytes)) in use)")
    }

    /// Frees every cached buffer.
    func releasePool() {
        for entry in pool.drain() { release(entry.handle, bytes: entry.bytes) }
    }

    /// Frees one buffer and forgets its bytes.
    func release(_ memory: OpenCLMemory, bytes: Int) {
        clReleaseMemObject(memory.mem)
        lock.withLock { allocatedBytes -= bytes }
    }

    func mem(_ tensor: Tensor, _ operation: String) throws -> cl_mem {
        try storage(of: tensor, as: OpenCLStorage.self, for: operation).mem
    }

    public func uncheckedWrite(_ values: UnsafeBufferPointer<Float>, to tensor: Tensor) throws {
        let destination = try mem(tensor, "write")
        guard let base = values.baseAddress, values.count > 0 else { return }
        try checkCL(clEnqueueWriteBuffer(queue, destination, cl_bool(CL_TRUE), 0, values.count * 4, base, 0, nil, nil),
                    "clEnqueueWriteBuffer", device: info.description)
    }

    public func uncheckedRead(_ tensor: Tensor, into values: UnsafeMutableBufferPointer<Float>) throws {
        let source = try mem(tensor, "read")
        guard let base = values.baseAddress, values.count > 0 else { return }
        try checkCL(clEnqueueReadBuffer(queue, source, cl_bool(CL_TRUE), 0, values.count * 4, base, 0, nil, nil),
                    "clEnqueueReadBuffer", device: info.description)
    }

    public func uncheckedCopy(_ source: Tensor, offset sourceOffset: Int, to destination: Tensor, offset destinationOffset: Int,
                     count: Int) throws {
        let from = try mem(source, "copy"), to = try mem(destination, "copy")
        guard count > 0 else { return }
        try checkCL(clEnqueueCopyBuffer(queue, from, to, sourceOffset * 4, destinationOffset * 4, count * 4, 0, nil, nil),
                    "clEnqueueCopyBuffer", device: info.description)
    }

    public func fill(_ tensor: Tensor, with value: Float) throws {
        let destination = try mem(tensor, "fill")
        guard tensor.count > 0 else { return }
        var pattern = value
        try checkCL(clEnqueueFillBuffer(queue, destination, &pattern, 4, 0, tensor.count * 4, 0, nil, nil),
                    "clEnqueueFillBuffer", device: info.description)
    }
}
