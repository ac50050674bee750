import Foundation
import LDMCPU
import LDMEngine
import LDMReference
import Testing

@Suite("Engine types")
struct EngineTests {
    @Test func matmulShapeLayouts() {
        let s = MatmulShape(batch: 2, m: 3, n: 4, k: 5, transposeA: true)
        #expect(s.lda == 3 && s.ldb == 4 && s.ldc == 4)
        #expect(s.requiredA == 30 && s.requiredB == 40 && s.requiredC == 24)
        #expect(s.flops == 2 * 2 * 3 * 4 * 5)
        #expect(s.description == "2x(3x4x5) TN")
    }

    @Test func matmulShapeValidationNamesTheOperand() throws {
        let s = MatmulShape(m: 2, n: 2, k: 2)
        #expect(throws: LDMError.shapeMismatch(operation: "matmul 2x2x2 NN", detail: "B holds 3 elements, needs 4")) {
            try s.validate(a: 4, b: 3, c: 4)
        }
        #expect(throws: LDMError.self) { try MatmulShape(batch: 2, m: 2, n: 2, k: 2, strideC: 1).validate(a: 8, b: 8, c: 8) }
        #expect(throws: LDMError.self) { try MatmulShape(m: 1, n: 1, k: 1, alpha: .infinity).validate(a: 1, b: 1, c: 1) }
    }

    @Test func errorMessagesAreOneReadableLine() {
        let oom = LDMError.outOfMemory(bytes: 3 << 30, device: "opencl device 0 'GPU' (NVIDIA CUDA)")
        #expect(oom.description == "out of memory: could not allocate 3.0 GiB (3221225472 bytes) on opencl device 0 'GPU' (NVIDIA CUDA)")
        let failure = LDMError.deviceFailure(call: "clEnqueueNDRangeKernel(add)", code: -5, name: "CL_OUT_OF_RESOURCES", device: "d")
        #expect(failure.description == "clEnqueueNDRangeKernel(add) failed with CL_OUT_OF_RESOURCES (-5) on d")
    }

    @Test func referenceMatmulIsTheTextbookProduct() {
        // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]]
        let c = Reference.matmul([1, 2, 3, 4] as [Float], [5, 6, 7, 8], [0, 0, 0, 0], MatmulShape(m: 2, n: 2, k: 2))
        #expect(c == [19, 22, 43, 50])
        let ct = Reference.matmul([1, 3, 2, 4] as [Float], [5, 7, 6, 8], [1, 1, 1, 1],
                                  MatmulShape(m: 2, n: 2, k: 2, transposeA: true, transposeB: true, alpha: 2, beta: -1))
        #expect(ct == [37, 43, 85, 99])
    }

    @Test func seededInputsAreReproducible() {
        var a = SeededGenerator(seed: 3), b = SeededGenerator(seed: 3)
        #expect(a.floats(100, outliers: true) == b.floats(100, outliers: true))
        var c = SeededGenerator(seed: 1)
        let values = c.floats(20_000).map(Double.init)
        let mean = values.reduce(0, +) / 20_000
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 20_000
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05, "standard normal draws")
    }

    @Test func tensorsReshapeWithoutCopying() throws {
        let cpu = try CPUBackend()
        let t = try cpu.upload([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let r = try t.reshaped([3, 2])
        #expect(r.storage === t.storage)
        #expect(throws: LDMError.self) { try t.reshaped([4]) }
        #expect(try cpu.download(r) == [1, 2, 3, 4, 5, 6])
    }

    @Test func bufferPoolKeepsUpToItsCapacityEvictingTheOldest() {
        let pool = BufferPool<Int>(capacityBytes: 100)
        #expect(pool.give(1, bytes: 60).isEmpty)
        #expect(pool.give(2, bytes: 60).map(\.handle) == [1], "over capacity: the longest-cached buffer goes back to the caller")
        #expect(pool.take(bytes: 64) == nil)
        #expect(pool.take(bytes: 60) == 2)
        #expect(pool.give(3, bytes: 40).isEmpty && pool.give(4, bytes: 40).isEmpty)
        #expect(pool.give(5, bytes: 30).map(\.handle) == [3])
        #expect(pool.take(bytes: 40) == 4)
        #expect(pool.give(6, bytes: 101).map(\.handle) == [6], "larger than the whole cache: never kept")
        #expect(pool.drain().map(\.bytes) == [30])
        #expect(pool.cachedBytes == 0)
    }
}
