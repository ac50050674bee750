import ArgumentParser
import Foundation
import LDMCPU
import LDMEngine
import LDMOpenCL

/// `ldm devices`: the CPU backend and every OpenCL device.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the CPU backend and every OpenCL platform and device.",
        discussion: "OpenCL device indices are what --device N and LDM_OPENCL_DEVICE take.")

    @Flag(help: "Print a JSON array of objects with backend, name, platform, index, compute units and memory.")
    var json = false

    struct Entry: Encodable {
        var backend: String
        var name: String
        var platform: String?
        var index: Int?
        var type: String?
        var version: String?
        var computeUnits: Int
        var globalMemoryBytes: Int
        var details: [String: String]

        enum CodingKeys: String, CodingKey {
            case backend, name, platform, index, type, version, details
            case computeUnits = "compute_units"
            case globalMemoryBytes = "global_memory_bytes"
        }
    }

    func run() throws {
        try reportingErrors {
            let cpu = try CPUBackend().info
            var entries = [Entry(backend: "cpu", name: cpu.deviceName, computeUnits: cpu.computeUnits,
                                 globalMemoryBytes: cpu.globalMemoryBytes, details: cpu.details)]
            for device in try OpenCLDevices.all() {
                entries.append(Entry(backend: "opencl", name: device.name, platform: device.platformName,
                                     index: device.index, type: device.type, version: device.version,
                                     computeUnits: device.computeUnits, globalMemoryBytes: device.globalMemoryBytes,
                                     details: device.info.details))
            }
            if json {
                try printJSON(entries)
                return
            }
            for entry in entries {
                let memory = LDMError.formatBytes(entry.globalMemoryBytes)
                if entry.backend == "cpu" {
                    print("cpu         \(entry.name) — \(entry.computeUnits) threads, \(memory), "
                        + (entry.details["blas"] ?? ""))
                } else {
                    print("opencl \(entry.index ?? 0)    \(entry.name) [\(entry.type ?? "?")] — \(entry.platform ?? ""), "
                        + "\(entry.computeUnits) compute units, \(memory), \(entry.version ?? "")")
                }
            }
            if entries.count == 1 { print("(no OpenCL device found; install an ICD such as pocl-opencl-icd)") }
        }
    }
}
