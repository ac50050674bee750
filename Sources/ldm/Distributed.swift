import ArgumentParser
import Foundation
import LDMEngine
import LDMOpenCL
import LDMParallel

/// The processes a command runs as: under mpirun the MPI world (Open MPI loaded now), otherwise one process.
func openProcessGroup(timeout: Double) throws -> ProcessGroup {
    guard MPICommunicator.launchedByMPI else { return .single }
    return ProcessGroup(try MPICommunicator(timeout: timeout))
}

extension BackendOptions {
    /// The chosen backend for this rank of `group`. On OpenCL: `--device` when given (every rank on that device),
    /// otherwise local rank r takes the host's r-th GPU (wrapping around when there are more ranks than GPUs), or
    /// the default device on a host without GPUs.
    func open(as group: ProcessGroup) throws -> any Backend {
        guard backend == .opencl, device.device == nil, group.size > 1 else { return try open() }
        let gpus = try OpenCLDevices.all().enumerated().filter { $0.element.type == "GPU" }.map(\.offset)
        return try openBackends(.opencl, device: gpus.isEmpty ? nil : gpus[group.communicator.localRank % gpus.count])[0]
    }
}

/// Runs `body` as one rank of `group`: an error on a rank of several is reported with the rank's name and ends every
/// rank at once (MPI_Abort), so no rank waits on a peer that will never come; a clean end, or an exit status every
/// rank agreed on (a stop request), leaves MPI cleanly.
func asRank(of group: ProcessGroup, _ body: () throws -> Void) throws {
    guard let world = group.communicator as? MPICommunicator else { return try body() }
    do {
        try body()
        world.finish()
    } catch let agreed as ExitCode {
        world.finish()
        throw agreed
    } catch {
        let text = (error as? LDMError).map { "\($0)" } ?? "\(error)"
        let named = text.hasPrefix("rank ") ? text : "rank \(group.rank) of \(group.size): \(text)"
        FileHandle.standardError.write(Data("ldm: error: \(named)\n".utf8))
        world.abort(code: 1)
    }
}
