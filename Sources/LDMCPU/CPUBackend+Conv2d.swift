import LDMEngine

/// conv2d (CPU twin of Kernels/conv2d.cl): im2col, its adjoint col2im, and the channel bias with its gradient on
/// NHWC tensors. im2col copies one run of `Cin` contiguous values per (position, u, v); col2im adds them back per
/// image in a fixed order (threads take whole images, so no two write one value). The product in between is the
/// backend's matmul (OpenBLAS).
extension CPUBackend {
    public func uncheckedIm2col(_ x: Tensor, into columns: Tensor, _ s: Conv2dShape) throws {
        let op = "im2col \(s)"
        let px = try floats(x, op), pc = try floats(columns, op)
        let (h, w, cin, k, stride, pad) = (s.height, s.width, s.inputChannels, s.kernel, s.stride, s.padding)
        let (oh, ow, patch) = (s.outputHeight, s.outputWidth, s.patch)
        Parallel.forChunks(s.positions, threads: threads, costPerItem: patch) { rows in
            for r in rows {
                let (j, i, n) = (r % ow, (r / ow) % oh, r / (ow * oh))
                let row = pc + r * patch
                for u in 0..<k {
                    let y = i * stride - pad + u
                    for v in 0..<k {
                        let xx = j * stride - pad + v, slot = row + (u * k + v) * cin
                        if y >= 0 && y < h && xx >= 0 && xx < w {
                            slot.update(from: px + ((n * h + y) * w + xx) * cin, count: cin)
                        } else {
                            slot.update(repeating: 0, count: cin)
                        }
                    }
                }
            }
        }
    }

    public func uncheckedCol2im(_ columns: Tensor, into dx: Tensor, _ s: Conv2dShape) throws {
        let op = "col2im \(s)"
        let pc = try floats(columns, op), pdx = try floats(dx, op)
        let (h, w, cin, k, stride, pad) = (s.height, s.width, s.inputChannels, s.kernel, s.stride, s.padding)
        let (oh, ow, patch) = (s.outputHeight, s.outputWidth, s.patch)
        Parallel.forChunks(s.batch, threads: threads, costPerItem: oh * ow * patch) { images in
            for n in images {
                let image = pdx + n * h * w * cin
                image.update(repeating: 0, count: h * w * cin)
                for i in 0..<oh {
                    for j in 0..<ow {
                        let row = pc + ((n * oh + i) * ow + j) * patch
                        for u in 0..<k {
                            let y = i * stride - pad + u
                            guard y >= 0 && y < h else { continue }
                            for v in 0..<k {
                                let xx = j * stride - pad + v
                                guard xx >= 0 && xx < w else { continue }
                                let target = image + (y * w + xx) * cin, source = row + (u * k + v) * cin
                                for c in 0..<cin { target[c] += source[c] }
                            }
                        }
                    }
                }
            }
        }
    }

    public func uncheckedAddChannelBias(_ bias: Tensor, to y: Tensor, _ s: RowsShape) throws {
        let pb = try floats(bias, "addChannelBias"), py = try floats(y, "addChannelBias")
        let c = s.columns
        Parallel.forChunks(s.rows, threads: threads, costPerItem: c) { rows in
            for r in rows { let row = py + r * c; for j in 0..<c { row[j] += pb[j] } }
        }
    }

    public func uncheckedChannelSums(_ x: Tensor, into sums: Tensor, _ s: RowsShape) throws {
        let px = try floats(x, "channelSums"), ps = try floats(sums, "channelSums")
        let c = s.columns
        let total = columnSums(rows: s.rows, columns: c) { out, r in
            let row = px + r * c
            for j in 0..<c { out[j] += row[j] }
        }
        for j in 0..<c { ps[j] = total[j] }
    }
}
