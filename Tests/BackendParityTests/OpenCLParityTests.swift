import LDMEngine
import Testing

/// Every kernel on the OpenCL device against the Double references; matmul both through CLBlast and through
/// Kernels/matmul.cl. Skipped (and reported so) when no OpenCL device exists, except in CI.
@Suite("OpenCL backend parity", .enabled(if: TestBackends.openCLEnabled, TestBackends.skipReason))
struct OpenCLParityTests {
    @Test(arguments: TestBackends.openCLNames, ParityChecks.matmulCases)
    func matmul(_ backend: String, _ shape: MatmulShape) throws {
        try ParityChecks.matmul(try TestBackends.named(backend), shape)
    }

    @Test(arguments: [1, 31, 33, 1000, 300_001])
    func elementwise(_ count: Int) throws {
        try ParityChecks.elementwise(try TestBackends.named("opencl"), count: count)
    }

    @Test(arguments: ParityChecks.rowsCases)
    func reduce(_ shape: RowsShape) throws {
        try ParityChecks.reduce(try TestBackends.named("opencl"), shape)
        try ParityChecks.reduceBackward(try TestBackends.named("opencl"), shape)
        try ParityChecks.normalize(try TestBackends.named("opencl"), shape)
    }

    @Test func normWithoutOverflow() throws {
        try ParityChecks.normWithoutOverflow(try TestBackends.named("opencl"))
    }

    @Test(arguments: ParityChecks.transposeCases)
    func transpose(_ shape: TransposeShape) throws {
        try ParityChecks.transpose(try TestBackends.named("opencl"), shape)
    }
}
