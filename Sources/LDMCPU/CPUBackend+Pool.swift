import LDMEngine

/// pool (CPU twin of Kernels/pool.cl): max and average window pooling and global average pooling of NHWC tensors,
/// forward and backward. The backwards scatter each window's gradient within its image (threads take whole images,
/// so no two write one value); max sends it to the window's first maximal input in row-major order, as the kernel.
extension CPUBackend {
    public func uncheckedPool(_ x: Tensor, into y: Tensor, _ s: PoolShape) throws {
        let op = "pool \(s)"
        let px = try floats(x, op), py = try floats(y, op)
        let (h, w, c, k, stride, pad) = (s.height, s.width, s.channels, s.window, s.stride, s.padding)
        let (oh, ow) = (s.outputHeight, s.outputWidth)
        let isMax = s.kind == .max, area = Float(k * k)
        Parallel.forChunks(s.batch * oh * ow, threads: threads, costPerItem: k * k * c) { outputs in
            for o in outputs {
                let (j, i, n) = (o % ow, (o / ow) % oh, o / (ow * oh))
                let out = py + o * c
                out.update(repeating: isMax ? -.infinity : 0, count: c)
                for u in 0..<k {
                    let yy = i * stride - pad + u
                    guard yy >= 0 && yy < h else { continue }
                    for v in 0..<k {
                        let xx = j * stride - pad + v
                        guard xx >= 0 && xx < w else { continue }
                        let input = px + ((n * h + yy) * w + xx) * c
                        if isMax {
                            for ch in 0..<c where input[ch] > out[ch] { out[ch] = input[ch] }
                        } else {
                            for ch in 0..<c { out[ch] += input[ch] }
                        }
                    }
                }
                if !isMax { for ch in 0..<c { out[ch] /= area } }
            }
        }
    }

    public func uncheckedPoolBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor, _ s: PoolShape) throws {
        let op = "poolBackward \(s)"
        let px = try floats(x, op), pdy = try floats(dy, op), pdx = try floats(dx, op)
        let (h, w, c, k, stride, pad) = (s.height, s.width, s.channels, s.window, s.stride, s.padding)
        let (oh, ow) = (s.outputHeight, s.outputWidth)
        let isMax = s.kind == .max, area = Float(k * k)
        Parallel.forChunks(s.batch, threads: threads, costPerItem: oh * ow * k * k * c) { images in
            var best = [Float](repeating: 0, count: c), winner = [Int](repeating: -1, count: c)
            for n in images {
                let image = pdx + n * h * w * c
                image.update(repeating: 0, count: h * w * c)
                for i in 0..<oh {
                    for j in 0..<ow {
                        let g = pdy + ((n * oh + i) * ow + j) * c
                        for ch in 0..<c { winner[ch] = -1 }
                        for u in 0..<k {
                            let yy = i * stride - pad + u
                            guard yy >= 0 && yy < h else { continue }
                            for v in 0..<k {
                                let xx = j * stride - pad + v
                                guard xx >= 0 && xx < w else { continue }
                                let at = (yy * w + xx) * c
                                if isMax {
                                    let input = px + n * h * w * c + at
                                    for ch in 0..<c where winner[ch] < 0 || input[ch] > best[ch] {
                                        best[ch] = input[ch]
                                        winner[ch] = at + ch
                                    }
                                } else {
                                    for ch in 0..<c { image[at + ch] += g[ch] / area }
                                }
                            }
                        }
                        if isMax { for ch in 0..<c where winner[ch] >= 0 { image[winner[ch]] += g[ch] } }
                    }
                }
            }
        }
    }

    public func uncheckedGlobalAveragePool(_ x: Tensor, into y: Tensor, _ s: GlobalPoolShape) throws {
        let op = "globalAveragePool \(s)"
        let px = try floats(x, op), py = try floats(y, op)
        let (p, c) = (s.positions, s.channels)
        Parallel.forChunks(s.batch, threads: threads, costPerItem: p * c) { images in
            for n in images {
                let out = py + n * c
                out.update(repeating: 0, count: c)
                for q in 0..<p { let row = px + (n * p + q) * c; for ch in 0..<c { out[ch] += row[ch] } }
                for ch in 0..<c { out[ch] /= Float(p) }
            }
        }
    }

    public func uncheckedGlobalAveragePoolBackward(_ dy: Tensor, into dx: Tensor, _ s: GlobalPoolShape) throws {
        let op = "globalAveragePoolBackward \(s)"
        let pdy = try floats(dy, op), pdx = try floats(dx, op)
        let (p, c) = (s.positions, s.channels)
        Parallel.forChunks(s.batch * p, threads: threads, costPerItem: c) { rows in
            for r in rows {
                let g = pdy + (r / p) * c, row = pdx + r * c
                for ch in 0..<c { row[ch] = g[ch] / Float(p) }
            }
        }
    }
}
