import Foundation
import LDMCPU
import LDMEngine
import LDMOpenCL
import Testing

/// The backends every parity test runs on. The OpenCL ones exist when an OpenCL device does; in CI
/// (`CI=true`) a missing device makes the OpenCL suites run and fail instead of being skipped.
enum TestBackends {
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static let openCLDeviceCount = (try? OpenCLDevices.all().count) ?? 0
    /// Whether the OpenCL suites run: a device is present, or CI demands one.
    static let openCLEnabled = openCLDeviceCount > 0 || inCI

    static let cpu = Result { try CPUBackend() }
    static let openCL = Result { try OpenCLBackend(matmul: .clblast) }
    /// A second OpenCL backend whose matmul runs Kernels/matmul.cl instead of CLBlast.
    static let openCLKernelMatmul = Result { try OpenCLBackend(matmul: .kernel) }
    /// An OpenCL backend on the work-group-tiled log-sum-exp kernels, whichever the device would pick (PoCL, a
    /// CPU device, picks the register-blocked ones).
    static let openCLTiledLSE = Result { try OpenCLBackend(matmul: .clblast, lse: .tiled) }

    /// Backends by the names the parameterised tests use.
    static func named(_ name: String) throws -> any Backend {
        switch name {
        case "cpu": return try cpu.get()
        case "opencl": return try openCL.get()
        case "opencl-kernel": return try openCLKernelMatmul.get()
        case "opencl-tiled-lse": return try openCLTiledLSE.get()
        default: throw LDMError.invalidArgument("unknown test backend \(name)")
        }
    }

    /// Every backend the suites run each kernel on: the CPU, and the OpenCL device when there is one (or CI
    /// demands one).
    static var all: [String] { ["cpu"] + (openCLEnabled ? ["opencl"] : []) }
    /// `all`, plus the OpenCL backend whose matmul is Kernels/matmul.cl rather than CLBlast.
    static var withKernelMatmul: [String] { all + (openCLEnabled ? ["opencl-kernel"] : []) }
    /// `all`, plus the OpenCL backend on the tiled log-sum-exp kernels (so both of lse.cl's forms run on any device).
    static var withTiledLSE: [String] { all + (openCLEnabled ? ["opencl-tiled-lse"] : []) }
    static let skipReason: Comment = "no OpenCL device (install pocl-opencl-icd; with CI=true this is a failure)"
}
