import Foundation
import LDMEngine
import LDMCPU
import LDMKernelSources
import LDMOpenCL
import Testing

/// Bad input gets a typed error before anything is launched, on every backend.
@Suite("Errors")
struct ErrorTests {
    @Test(arguments: TestBackends.all)
    func shapeMismatchBeforeLaunch(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let a = try backend.upload([Float](repeating: 1, count: 6), shape: [2, 3])
        let c = try backend.upload([Float](repeating: 7, count: 3), shape: [3])
        let error = #expect(throws: LDMError.self) {
            try backend.matmul(a, a, into: c, MatmulShape(m: 2, n: 2, k: 3, transposeB: true))
        }
        guard case .shapeMismatch(_, let detail)? = error else {
            Issue.record("expected shapeMismatch, got \(String(describing: error))")
            return
        }
        #expect(detail.contains("C holds 3 elements, needs 4"))
        #expect(try backend.download(c) == [7, 7, 7], "nothing may run when validation fails")

        #expect(throws: LDMError.self) { try backend.add(a, c, into: c) }
        #expect(throws: LDMError.self) { try backend.scale(a, by: .nan, into: a) }
        #expect(throws: LDMError.self) {
            try backend.reduceRows(a, into: c, .sum, RowsShape(rows: 3, columns: 3))
        }
        #expect(throws: LDMError.self) { try backend.transpose(a, into: a, TransposeShape(rows: 2, columns: 3)) }
        #expect(throws: LDMError.self) { try backend.upload([1, 2, 3], shape: [2, 2]) }
    }

    @Test(arguments: TestBackends.all)
    func outOfMemoryNamesSizeAndDevice(_ name: String) throws {
        let backend = try TestBackends.named(name)
        // 2^36 floats = 256 GiB: more than any test machine or PoCL device offers.
        let error = #expect(throws: LDMError.self) { _ = try backend.makeTensor([1 << 36]) }
        guard case .outOfMemory(let bytes, let device)? = error else {
            Issue.record("expected outOfMemory, got \(String(describing: error))")
            return
        }
        #expect(bytes == 1 << 38)
        #expect(device.contains(backend.info.deviceName))
        #expect(error!.description.contains("256.0 GiB"))
    }

    @Test func tensorFromAnotherBackendIsRefused() throws {
        let cpu = try TestBackends.named("cpu")
        let other = try CPUBackend()
        let foreign = try other.upload([1, 2], shape: [2])
        let local = try cpu.makeTensor([2])
        let error = #expect(throws: LDMError.self) { try cpu.copy(foreign, to: local) }
        guard case .wrongBackend? = error else {
            Issue.record("expected wrongBackend, got \(String(describing: error))")
            return
        }
    }

    @Test func freedBuffersAreReused() throws {
        let cpu = try CPUBackend()   // a pool of its own
        var first: Tensor? = try cpu.makeTensor([1000])
        let address = try cpu.withUnsafePointer(to: first!) { UInt(bitPattern: $0) }
        first = nil
        #expect(cpu.pooledBytes == 4032, "a freed 1000-float buffer (4032 bytes, whole cache lines) is kept")
        let second = try cpu.makeTensor([1000])
        #expect(cpu.pooledBytes == 0, "and handed out again")
        #expect(try cpu.withUnsafePointer(to: second) { UInt(bitPattern: $0) } == address)
    }
}

/// OpenCL-specific error paths.
@Suite("OpenCL errors", .enabled(if: TestBackends.openCLEnabled, TestBackends.skipReason))
struct OpenCLErrorTests {
    @Test func brokenKernelSourceReportsCompilerLog() throws {
        let backend = try TestBackends.openCL.get()
        let source = "__kernel void broken(__global float *x) { x[0] = undefined_symbol_ldm; }"
        let error = #expect(throws: LDMError.self) { try backend.compile(source: source, named: "broken") }
        guard case .kernelBuildFailed(let kernel, _, let log)? = error else {
            Issue.record("expected kernelBuildFailed, got \(String(describing: error))")
            return
        }
        #expect(kernel == "broken.cl")
        #expect(log.contains("undefined_symbol_ldm"), "the compiler log names the bad identifier: \(log)")
    }

    /// Every file of Kernels/ is embedded and compiles on the device (the list is read from the checkout, so a
    /// new .cl file that the plugin missed fails here).
    @Test func everyEmbeddedKernelBuilds() throws {
        let backend = try TestBackends.openCL.get()
        let kernels = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Kernels")
        let files = try FileManager.default.contentsOfDirectory(atPath: kernels.path).filter { $0.hasSuffix(".cl") }
        let names = files.map { String($0.dropLast(3)) }.sorted()
        #expect(names.count >= 18, "Kernels/ holds \(names)")
        #expect(KernelSources.embeddedNames == names, "embedded \(KernelSources.embeddedNames), on disk \(names)")
        for name in names {
            let source = try #require(KernelSources.embeddedSource(of: name), "embedded kernel \(name).cl")
            try backend.compile(source: source, named: name)
        }
    }

    @Test func unknownDeviceIndexIsAnError() throws {
        let error = #expect(throws: LDMError.self) { _ = try OpenCLBackend(device: 999) }
        guard case .invalidArgument(let message)? = error else {
            Issue.record("expected invalidArgument, got \(String(describing: error))")
            return
        }
        #expect(message.contains("999"))
    }
}
