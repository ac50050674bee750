import COpenCL
import Foundation
import LDMEngine
import LDMKernelSources

/// A compiled program is keyed by the kernel file and the build options (the device is the backend's own).
struct ProgramKey: Hashable {
    let family: String
    let options: String
}

struct KernelKey: Hashable {
    let program: ProgramKey
    let name: String
}

/// One kernel argument, as `clSetKernelArg` takes it.
enum KernelArgument {
    case buffer(cl_mem)
    case int(Int32)
    case float(Float)
}

extension OpenCLBackend {
    /// The kernel `name` of `Kernels/<family>.cl` built with `options` (`-D` tunables), compiled on first use.
    func kernel(_ family: String, _ name: String, options: String = "") throws -> cl_kernel {
        let key = KernelKey(program: ProgramKey(family: family, options: options), name: name)
        return try lock.withLock {
            if let cached = kernels[key] { return cached }
            let program = try programLocked(key.program)
            var status: cl_int = CL_SUCCESS
            guard let kernel = clCreateKernel(program, name, &status), status == CL_SUCCESS else {
                throw LDMError.deviceFailure(call: "clCreateKernel(\(name)) from \(family).cl", code: status,
                                             name: OpenCLStatus.name(status), device: info.description)
            }
            kernels[key] = kernel
            return kernel
        }
    }

    /// Compiles `source` on this device without caching it, throwing `LDMError.kernelBuildFailed` with the
    /// compiler's log on failure. For checking a kernel while editing it (and for tests of the error path).
    public func compile(source: String, named family: String, options: String = "") throws {
        let program = try build(source: source, family: family, options: options)
        clReleaseProgram(program)
    }

    private func programLocked(_ key: ProgramKey) throws -> cl_program {
        if let cached = programs[key] { return cached }
        guard let source = KernelSources.source(of: key.family) else {
            throw LDMError.invalidArgument("no kernel file '\(key.family).cl' (embedded: "
                + KernelSources.embeddedNames.joined(separator: ", ") + ")")
        }
        let program = try build(source: source, family: key.family, options: key.options)
        programs[key] = program
        return program
    }

    private func build(source: String, family: String, options: String) throws -> cl_program {
        var status: cl_int = CL_SUCCESS
        let program: cl_program? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            var length = strlen(text)
            return clCreateProgramWithSource(context, 1, &pointer, &length, &status)
        }
        guard let program, status == CL_SUCCESS else {
            throw LDMError.deviceFailure(call: "clCreateProgramWithSource(\(family).cl)", code: status,
                                         name: OpenCLStatus.name(status), device: info.description)
        }
        var deviceID: cl_device_id? = device.deviceID
        let built = clBuildProgram(program, 1, &deviceID, options, nil, nil)
        if built != CL_SUCCESS {
            let log = buildLog(program)
            clReleaseProgram(program)
            if built == CL_BUILD_PROGRAM_FAILURE || built == CL_INVALID_BUILD_OPTIONS || !log.isEmpty {
                throw LDMError.kernelBuildFailed(kernel: family + ".cl" + (options.isEmpty ? "" : " [\(options)]"),
                                                 device: info.description,
                                                 log: log.isEmpty ? OpenCLStatus.name(built) : log)
            }
            try checkCL(built, "clBuildProgram(\(family).cl)", device: info.description)
        }
        return program
    }

    private func buildLog(_ program: cl_program) -> String {
        var size = 0
        let key = cl_program_build_info(CL_PROGRAM_BUILD_LOG)
        guard clGetProgramBuildInfo(program, device.deviceID, key, 0, nil, &size) == CL_SUCCESS, size > 1 else {
            return ""
        }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetProgramBuildInfo(program, device.deviceID, key, size, &bytes, nil) == CL_SUCCESS else { return "" }
        return cString(bytes).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Sets `arguments` and enqueues `kernel` over `global` work-items in groups of `local` (nil: the
    /// driver chooses). Global sizes must already be padded to whole groups.
    func launch(_ kernel: cl_kernel, _ label: String, _ arguments: [KernelArgument],
                global: [Int], local: [Int]?) throws {
        try lock.withLock {
            for (index, argument) in arguments.enumerated() {
                let status: cl_int
                switch argument {
                case var .buffer(mem): status = clSetKernelArg(kernel, cl_uint(index), MemoryLayout<cl_mem>.size, &mem)
                case var .int(value): status = clSetKernelArg(kernel, cl_uint(index), 4, &value)
                case var .float(value): status = clSetKernelArg(kernel, cl_uint(index), 4, &value)
                }
                try checkCL(status, "clSetKernelArg(\(label), \(index))", device: info.description)
            }
            let status: cl_int
            if let local {
                status = clEnqueueNDRangeKernel(queue, kernel, cl_uint(global.count), nil, global, local, 0, nil, nil)
            } else {
                status = clEnqueueNDRangeKernel(queue, kernel, cl_uint(global.count), nil, global, nil, 0, nil, nil)
            }
            try checkCL(status, "clEnqueueNDRangeKernel(\(label))", device: info.description)
        }
    }

    /// `count` rounded up to a whole number of `group`s.
    func padded(_ count: Int, to group: Int) -> Int {
        (count + group - 1) / group * group
    }
}

extension OpenCLBackend {
    /// Launches an elementwise kernel over n items in work-groups of `elementwiseGroup`.
    func pointwise(_ family: String, _ name: String, options: String, _ n: Int32,
                           _ arguments: [KernelArgument]) throws {
        guard n > 0 else { return }
        let group = Self.elementwiseGroup
        try launch(try kernel(family, name, options: options), name, arguments, global: [padded(Int(n), to: group)],
                   local: [group])
    }
}
