import Foundation
import LDMEngine
import LDMReference
import Testing

/// gather.cl on every backend: the indexed rows exactly, NaN rows for indices outside the table or not whole, and
/// an index range past the end refused. The kernel has no gradient: it gathers data, and nothing is trained
/// through it.
@Suite("gather.cl")
struct GatherTests {
    @Test(arguments: TestBackends.all)
    func gatheredRowsAreTheIndexedRowsAndBadIndicesGiveNaN(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0x6a)
        let table = generator.floats(10 * 13)
        let indices: [Float] = [3, 9, 0, 3, 7, 12, -1, 2.5, .nan, 10, 1]
        let shape = GatherShape(rows: 10, columns: 13, count: 6, offset: 1)
        let tTable = try backend.upload(table, shape: [10, 13]), tIndices = try backend.upload(indices, shape: [11])
        let out = try backend.makeTensor([6, 13])
        try backend.gatherRows(tTable, indices: tIndices, into: out, shape)
        let got = try backend.download(out)
        let expected = Reference.gatherRows(table.map(Double.init), indices.map(Double.init), shape)
        // Rows 0–3 (indices 9, 0, 3, 7) are copies; rows 4 and 5 (12 and −1) are NaN.
        #expect(Array(got[0..<52]) == expected[0..<52].map { Float($0) })
        #expect(got[52...].allSatisfy { $0.isNaN } && expected[52...].allSatisfy { $0.isNaN })
        let rest = try backend.makeTensor([4, 13])
        try backend.gatherRows(tTable, indices: tIndices, into: rest, GatherShape(rows: 10, columns: 13, count: 4, offset: 7))
        let tail = try backend.download(rest)
        #expect(tail[0..<39].allSatisfy { $0.isNaN })   // 2.5, NaN, 10
        #expect(Array(tail[39...]) == Array(table[13..<26]))
        #expect(throws: LDMError.self) {   // indices run out
            try backend.gatherRows(tTable, indices: tIndices, into: out, GatherShape(rows: 10, columns: 13, count: 6, offset: 6))
        }
    }
}
