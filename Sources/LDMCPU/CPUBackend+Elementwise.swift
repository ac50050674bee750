import LDMEngine

/// elementwise (CPU twin of Kernels/elementwise.cl): add, scale, axpy. Memory-bound loops the compiler
/// vectorises; split across cores above a few hundred thousand elements.
extension CPUBackend {
    public func uncheckedAdd(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
        let pa = try floats(a, "add"), pb = try floats(b, "add"), po = try floats(out, "add")
        Parallel.forChunks(out.count, threads: threads) { range in
            for i in range { po[i] = pa[i] + pb[i] }
        }
    }

    public func uncheckedScale(_ x: Tensor, by alpha: Float, into out: Tensor) throws {
        let px = try floats(x, "scale"), po = try floats(out, "scale")
        Parallel.forChunks(out.count, threads: threads) { range in
            for i in range { po[i] = alpha * px[i] }
        }
    }

    public func uncheckedAxpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws {
        let px = try floats(x, "axpy"), py = try floats(y, "axpy")
        Parallel.forChunks(y.count, threads: threads) { range in
            for i in range { py[i] += alpha * px[i] }
        }
    }
}
