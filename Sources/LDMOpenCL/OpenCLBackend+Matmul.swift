import COpenCL
import LDMEngine

/// matmul (OpenCL launcher of Kernels/matmul.cl, and of CLBlast's SGEMM, the default engine).
extension OpenCLBackend {
    /// Work-group edge of Kernels/matmul.cl (its TILE).
    static let matmulTile = 16

    public func uncheckedMatmul(_ a: Tensor, _ b: Tensor, into c: Tensor, _ s: MatmulShape) throws {
        let ma = try mem(a, "matmul"), mb = try mem(b, "matmul"), mc = try mem(c, "matmul")
        _ = try requireInt32(max(a.count, b.count, c.count), "matmul")
        guard s.batch > 0, s.m > 0, s.n > 0 else { return }
        // CLBlast rejects K = 0 (an empty sum, C = β·C); the kernel handles it.
        if matmulEngine == .clblast && s.k > 0 {
            try clblastMatmul(ma, mb, mc, s)
        } else {
            try kernelMatmul(ma, mb, mc, s)
        }
    }

    private func clblastMatmul(_ a: cl_mem, _ b: cl_mem, _ c: cl_mem, _ s: MatmulShape) throws {
        let ta = s.transposeA ? CLBlastTransposeYes : CLBlastTransposeNo
        let tb = s.transposeB ? CLBlastTransposeYes : CLBlastTransposeNo
        let status: CLBlastStatusCode = lock.withLock {
            var q: cl_command_queue? = queue
            if s.batch == 1 {
                return CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, s.m, s.n, s.k, s.alpha,
                                    a, 0, max(1, s.lda), b, 0, max(1, s.ldb), s.beta, c, 0, max(1, s.ldc), &q, nil)
            }
            return CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, s.m, s.n, s.k, s.alpha,
                                              a, 0, max(1, s.lda), s.strideA, b, 0, max(1, s.ldb), s.strideB,
                                              s.beta, c, 0, max(1, s.ldc), s.strideC, s.batch, &q, nil)
        }
        guard status == CLBlastSuccess else {
            let call = s.batch == 1 ? "CLBlastSgemm" : "CLBlastSgemmStridedBatched"
            throw LDMError.deviceFailure(call: "\(call) \(s)", code: status.rawValue,
                                         name: OpenCLStatus.clblastName(status.rawValue), device: info.description)
        }
    }

    private func kernelMatmul(_ a: cl_mem, _ b: cl_mem, _ c: cl_mem, _ s: MatmulShape) throws {
        let tile = Self.matmulTile
        let kernel = try kernel("matmul", "matmul", options: "-DTILE=\(tile)")
        try launch(kernel, "matmul", [
            .int(Int32(s.m)), .int(Int32(s.n)), .int(Int32(s.k)),
            .int(s.transposeA ? 1 : 0), .int(s.transposeB ? 1 : 0), .float(s.alpha), .float(s.beta),
            .buffer(a), .int(Int32(s.strideA)), .int(Int32(s.lda)),
            .buffer(b), .int(Int32(s.strideB)), .int(Int32(s.ldb)),
            .buffer(c), .int(Int32(s.strideC)), .int(Int32(s.ldc)),
        ], global: [padded(s.n, to: tile), padded(s.m, to: tile), s.batch], local: [tile, tile, 1])
    }
}
