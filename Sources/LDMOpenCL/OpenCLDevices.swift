import COpenCL
import Foundation
import LDMEngine

/// One OpenCL device as discovered: its place in the global numbering (`--device N`) and its facts.
/// (`@unchecked Sendable`: the OpenCL ids are immutable handles that the driver lets any thread use.)
public struct OpenCLDeviceRecord: @unchecked Sendable {
    /// Position in the list of all devices of all platforms (platform order, then device order).
    public let index: Int
    public let platformName: String
    public let name: String
    public let vendor: String
    public let version: String
    public let driverVersion: String
    public let type: String
    public let computeUnits: Int
    public let globalMemoryBytes: Int
    public let maxAllocationBytes: Int
    public let localMemoryBytes: Int
    public let maxWorkGroupSize: Int
    let platformID: cl_platform_id
    let deviceID: cl_device_id

    /// The engine's description of this device.
    public var info: BackendInfo {
        BackendInfo(kind: .opencl, deviceName: name, platform: platformName, index: index,
                    computeUnits: computeUnits, globalMemoryBytes: globalMemoryBytes,
                    details: ["type": type, "version": version, "driver": driverVersion, "vendor": vendor,
                              "max_alloc_bytes": "\(maxAllocationBytes)"])
    }
}

/// Enumerates OpenCL platforms and devices through the ICD loader.
public enum OpenCLDevices {
    /// The environment variable choosing the device index when `--device` is not given.
    public static let deviceVariable = "LDM_OPENCL_DEVICE"

    /// Every device of every platform, numbered globally. An installation with no OpenCL platform (no ICD,
    /// `CL_PLATFORM_NOT_FOUND_KHR`) gives an empty list, not an error.
    public static func all() throws -> [OpenCLDeviceRecord] {
        var platformCount: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &platformCount)
        if status == -1001 || platformCount == 0 { return [] }   // CL_PLATFORM_NOT_FOUND_KHR: no ICD installed
        try checkCL(status, "clGetPlatformIDs", device: "OpenCL")
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        try checkCL(clGetPlatformIDs(platformCount, &platforms, nil), "clGetPlatformIDs", device: "OpenCL")

        var records: [OpenCLDeviceRecord] = []
        for case let platform? in platforms {
            let platformName = try platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
            var deviceCount: cl_uint = 0
            let found = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount)
            if found == CL_DEVICE_NOT_FOUND || deviceCount == 0 { continue }
            try checkCL(found, "clGetDeviceIDs", device: platformName)
            var devices = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            try checkCL(clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &devices, nil),
                        "clGetDeviceIDs", device: platformName)
            for case let device? in devices {
                records.append(try record(index: records.count, platform: platform, platformName: platformName,
                                          device: device))
            }
        }
        return records
    }

    /// The device to use: `index` if given, else `LDM_OPENCL_DEVICE`, else the first GPU, else device 0.
    public static func choose(_ index: Int? = nil) throws -> OpenCLDeviceRecord {
        let devices = try all()
        guard !devices.isEmpty else {
            throw LDMError.noDevice("no OpenCL device found (is an ICD such as pocl-opencl-icd installed?)")
        }
        var wanted = index
        if wanted == nil, let text = ProcessInfo.processInfo.environment[deviceVariable], !text.isEmpty {
            guard let value = Int(text) else {
                throw LDMError.invalidArgument("\(deviceVariable)=\(text) is not a device index")
            }
            wanted = value
        }
        if let wanted {
            guard devices.indices.contains(wanted) else {
                throw LDMError.invalidArgument(
                    "OpenCL device \(wanted) does not exist; devices are 0...\(devices.count - 1) (see `ldm devices`)")
            }
            return devices[wanted]
        }
        return devices.first(where: { $0.type == "GPU" }) ?? devices[0]
    }

    private static func record(index: Int, platform: cl_platform_id, platformName: String,
                               device: cl_device_id) throws -> OpenCLDeviceRecord {
        let typeBits: cl_device_type = try deviceValue(device, CL_DEVICE_TYPE)
        let type = typeBits & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 ? "GPU"
            : typeBits & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 ? "CPU"
            : typeBits & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 ? "accelerator" : "other"
        let units: cl_uint = try deviceValue(device, CL_DEVICE_MAX_COMPUTE_UNITS)
        let memory: cl_ulong = try deviceValue(device, CL_DEVICE_GLOBAL_MEM_SIZE)
        let maxAlloc: cl_ulong = try deviceValue(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE)
        let local: cl_ulong = try deviceValue(device, CL_DEVICE_LOCAL_MEM_SIZE)
        let group: Int = try deviceValue(device, CL_DEVICE_MAX_WORK_GROUP_SIZE)
        return OpenCLDeviceRecord(
            index: index, platformName: platformName,
            name: try deviceString(device, CL_DEVICE_NAME),
            vendor: try deviceString(device, CL_DEVICE_VENDOR),
            version: try deviceString(device, CL_DEVICE_VERSION),
            driverVersion: try deviceString(device, CL_DRIVER_VERSION),
            type: type, computeUnits: Int(units), globalMemoryBytes: Int(memory),
            maxAllocationBytes: Int(maxAlloc), localMemoryBytes: Int(local), maxWorkGroupSize: group,
            platformID: platform, deviceID: device)
    }

    static func platformString(_ platform: cl_platform_id, _ key: cl_platform_info) throws -> String {
        var size = 0
        try checkCL(clGetPlatformInfo(platform, key, 0, nil, &size), "clGetPlatformInfo", device: "OpenCL")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try checkCL(clGetPlatformInfo(platform, key, size, &bytes, nil), "clGetPlatformInfo", device: "OpenCL")
        return cString(bytes).trimmingCharacters(in: .whitespaces)
    }

    static func deviceString(_ device: cl_device_id, _ key: Int32) throws -> String {
        var size = 0
        try checkCL(clGetDeviceInfo(device, cl_device_info(key), 0, nil, &size), "clGetDeviceInfo", device: "OpenCL")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try checkCL(clGetDeviceInfo(device, cl_device_info(key), size, &bytes, nil), "clGetDeviceInfo",
                    device: "OpenCL")
        return cString(bytes).trimmingCharacters(in: .whitespaces)
    }

    static func deviceValue<T: FixedWidthInteger>(_ device: cl_device_id, _ key: Int32) throws -> T {
        var value: T = 0
        try checkCL(clGetDeviceInfo(device, cl_device_info(key), MemoryLayout<T>.size, &value, nil),
                    "clGetDeviceInfo", device: "OpenCL")
        return value
    }
}

/// The text of a NUL-terminated byte buffer filled by an OpenCL info query.
func cString(_ bytes: [CChar]) -> String {
    let end = bytes.firstIndex(of: 0) ?? bytes.count
    return String(decoding: bytes[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
