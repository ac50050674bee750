import ArgumentParser
import LDMCPU
import LDMEngine
import LDMOpenCL

/// `--backend cpu|opencl|all`.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    case cpu, opencl, all
}

/// Opens the backends a command asked for. With `all`, a missing OpenCL device is a note, not an error.
func openBackends(_ choice: BackendChoice, device: Int?, matmul: OpenCLBackend.MatmulEngine? = nil) throws
    -> [any Backend] {
    var backends: [any Backend] = []
    if choice != .opencl { backends.append(try CPUBackend()) }
    if choice != .cpu {
        do {
            backends.append(try OpenCLBackend(device: device, matmul: matmul))
        } catch let error as LDMError {
            guard choice == .all, case .noDevice = error else { throw error }
            note("note: \(error); running on the CPU backend only")
        }
    }
    return backends
}
