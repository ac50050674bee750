import Foundation
import LDMEngine
import LDMReference
import Testing

/// strided_copy.cl on every backend: copies and accumulations against the Double reference, and its adjoint.
@Suite("strided_copy.cl")
struct StridedCopyTests {
    /// Strided copies: overlapping source windows written into a packed matrix, a shifted slice added into a
    /// NaN-free destination; the copy's adjoint (the layouts swapped, accumulating) satisfies ⟨P·x, y⟩ = ⟨x, Pᵀ·y⟩,
    /// which is how its gradient is taken. Overlapping destinations, runs out of range and aliasing are refused.
    @Test(arguments: TestBackends.all)
    func stridedCopyMatchesTheReferenceAndItsAdjoint(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 6)
        let (b, t, d, m) = (3, 17, 5, 3)   // sequences, steps, features, window
        let z = generator.floats(b * t * d), tz = try backend.upload(z, shape: [b, t, d])
        let windows = StridedCopyShape(blocks: b, rows: t - m + 1, width: m * d,
                                       source: StridedLayout(blockStride: t * d, rowStride: d),
                                       destination: StridedLayout(blockStride: (t - m + 1) * m * d, rowStride: m * d))
        let shifted = StridedCopyShape(blocks: b, rows: t - 2, width: d,
                                       source: StridedLayout(offset: 2 * d, blockStride: t * d, rowStride: d),
                                       destination: StridedLayout(offset: 1, blockStride: (t - 2) * d + 3, rowStride: d), accumulate: true)
        for shape in [windows, shifted] {
            let start = generator.floats(shape.extent(shape.destination) + 2)
            let out = try backend.upload(start, shape: [start.count])
            try backend.stridedCopy(tz, into: out, shape)
            expectClose(try backend.download(out), Reference.stridedCopy(z, into: start, shape), tolerance: Tolerance.float32,
                        "stridedCopy \(shape) on \(name)")
            // The adjoint: y in the destination's layout, scattered back onto zeros shaped like z.
            let y = generator.floats(start.count), back = try backend.makeTensor([b, t, d])
            try backend.fill(back, with: 0)
            let adjoint = StridedCopyShape(blocks: shape.blocks, rows: shape.rows, width: shape.width, source: shape.destination,
                                           destination: shape.source, accumulate: true)
            if shape == windows {
                // Windows overlap in z, so their adjoint scatters one window column block at a time.
                for j in 0..<m {
                    try backend.stridedCopy(try backend.upload(y, shape: [y.count]), into: back, StridedCopyShape(
                        blocks: b, rows: t - m + 1, width: d,
                        source: StridedLayout(offset: j * d, blockStride: windows.destination.blockStride, rowStride: m * d),
                        destination: StridedLayout(offset: j * d, blockStride: t * d, rowStride: d), accumulate: true))
                }
            } else {
                try backend.stridedCopy(try backend.upload(y, shape: [y.count]), into: back, adjoint)
            }
            let zeros = [Float](repeating: 0, count: start.count)
            let forward = zip(Reference.stridedCopy(z, into: zeros, StridedCopyShape(blocks: shape.blocks, rows: shape.rows, width: shape.width,
                                                                                    source: shape.source, destination: shape.destination)), y)
                .reduce(0) { $0 + $1.0 * Double($1.1) }
            let backward = zip(try backend.download(back), z).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(forward - backward) <= 1e-5 * max(1, abs(forward)), "⟨Px, y⟩ \(forward) vs ⟨x, Pᵀy⟩ \(backward) for \(shape) on \(name)")
        }
        let small = try backend.makeTensor([10])
        let overlapping = StridedCopyShape(blocks: 1, rows: 2, width: 3, source: StridedLayout(blockStride: 0, rowStride: 3),
                                           destination: StridedLayout(blockStride: 0, rowStride: 2))
        #expect(throws: LDMError.self) { try backend.stridedCopy(tz, into: small, overlapping) }
        let tooFar = StridedCopyShape(blocks: 1, rows: 4, width: 3, source: StridedLayout(blockStride: 0, rowStride: 3),
                                      destination: StridedLayout(blockStride: 0, rowStride: 3))
        #expect(throws: LDMError.self) { try backend.stridedCopy(tz, into: small, tooFar) }
        #expect(throws: LDMError.self) { try backend.stridedCopy(small, into: small, StridedCopyShape(
            blocks: 1, rows: 1, width: 2, source: StridedLayout(blockStride: 0, rowStride: 0), destination: StridedLayout(offset: 4, blockStride: 0, rowStride: 0))) }
    }
}
