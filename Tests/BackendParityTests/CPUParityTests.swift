import LDMEngine
import Testing

/// Every kernel on the CPU backend against the Double references.
@Suite("CPU backend parity")
struct CPUParityTests {
    @Test(arguments: ParityChecks.matmulCases)
    func matmul(_ shape: MatmulShape) throws {
        try ParityChecks.matmul(try TestBackends.named("cpu"), shape)
    }

    @Test(arguments: [1, 31, 33, 1000, 300_001])
    func elementwise(_ count: Int) throws {
        try ParityChecks.elementwise(try TestBackends.named("cpu"), count: count)
    }

    @Test(arguments: ParityChecks.rowsCases)
    func reduce(_ shape: RowsShape) throws {
        try ParityChecks.reduce(try TestBackends.named("cpu"), shape)
        try ParityChecks.reduceBackward(try TestBackends.named("cpu"), shape)
        try ParityChecks.normalize(try TestBackends.named("cpu"), shape)
    }

    @Test func normWithoutOverflow() throws {
        try ParityChecks.normWithoutOverflow(try TestBackends.named("cpu"))
    }

    @Test(arguments: ParityChecks.transposeCases)
    func transpose(_ shape: TransposeShape) throws {
        try ParityChecks.transpose(try TestBackends.named("cpu"), shape)
    }
}
