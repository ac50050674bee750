import Foundation
import LDMEngine

/// The image kernels' meaning in Double, written as the definitions read (direct convolution, window loops), not
/// as the kernels compute them (im2col, gathers).
extension Reference {
    /// The direct convolution of ``Conv2dShape``: `y[n, i, j, o] = b[o] + Σ_{u, v, c} w[o, u, v, c]·x[n, i·s − p + u, j·s − p + v, c]`.
    public static func conv2d(_ x: [Double], _ w: [Double], _ b: [Double]?, _ s: Conv2dShape) -> [Double] {
        let (oh, ow, k, cin, cout) = (s.outputHeight, s.outputWidth, s.kernel, s.inputChannels, s.outputChannels)
        var y = [Double](repeating: 0, count: s.outputCount)
        for n in 0..<s.batch {
            for i in 0..<oh {
                for j in 0..<ow {
                    for o in 0..<cout {
                        var sum = b?[o] ?? 0
                        for u in 0..<k {
                            let yy = i * s.stride - s.padding + u
                            guard yy >= 0 && yy < s.height else { continue }
                            for v in 0..<k {
                                let xx = j * s.stride - s.padding + v
                                guard xx >= 0 && xx < s.width else { continue }
                                for c in 0..<cin {
                                    sum += w[((o * k + u) * k + v) * cin + c] * x[((n * s.height + yy) * s.width + xx) * cin + c]
                                }
                            }
                        }
                        y[((n * oh + i) * ow + j) * cout + o] = sum
                    }
                }
            }
        }
        return y
    }

    /// The gradients of ``conv2d(_:_:_:_:)`` for `dy`, from the same loops: (dx, dw, db).
    public static func conv2dBackward(_ x: [Double], _ w: [Double], _ dy: [Double], _ s: Conv2dShape)
        -> (dx: [Double], dw: [Double], db: [Double]) {
        let (oh, ow, k, cin, cout) = (s.outputHeight, s.outputWidth, s.kernel, s.inputChannels, s.outputChannels)
        var dx = [Double](repeating: 0, count: s.inputCount), dw = [Double](repeating: 0, count: s.weightCount)
        var db = [Double](repeating: 0, count: cout)
        for n in 0..<s.batch {
            for i in 0..<oh {
                for j in 0..<ow {
                    for o in 0..<cout {
                        let g = dy[((n * oh + i) * ow + j) * cout + o]
                        db[o] += g
                        for u in 0..<k {
                            let yy = i * s.stride - s.padding + u
                            guard yy >= 0 && yy < s.height else { continue }
                            for v in 0..<k {
                                let xx = j * s.stride - s.padding + v
                                guard xx >= 0 && xx < s.width else { continue }
                                for c in 0..<cin {
                                    let (wi, xi) = (((o * k + u) * k + v) * cin + c, ((n * s.height + yy) * s.width + xx) * cin + c)
                                    dw[wi] += g * x[xi]
                                    dx[xi] += g * w[wi]
                                }
                            }
                        }
                    }
                }
            }
        }
        return (dx, dw, db)
    }

    /// Max or average pooling (``PoolShape``): the window's largest input, or its sum over window².
    public static func pool(_ x: [Double], _ s: PoolShape) -> [Double] {
        let (oh, ow, c, k) = (s.outputHeight, s.outputWidth, s.channels, s.window)
        var y = [Double](repeating: 0, count: s.outputCount)
        for n in 0..<s.batch {
            for i in 0..<oh {
                for j in 0..<ow {
                    for ch in 0..<c {
                        var values: [Double] = []
                        for u in 0..<k {
                            let yy = i * s.stride - s.padding + u
                            guard yy >= 0 && yy < s.height else { continue }
                            for v in 0..<k {
                                let xx = j * s.stride - s.padding + v
                                guard xx >= 0 && xx < s.width else { continue }
                                values.append(x[((n * s.height + yy) * s.width + xx) * c + ch])
                            }
                        }
                        y[((n * oh + i) * ow + j) * c + ch] = s.kind == .max
                            ? values.max() ?? -.infinity : values.reduce(0, +) / Double(k * k)
                    }
                }
            }
        }
        return y
    }

    /// Global average pooling of `x [N, P, C]`: `y[n, c] = (1/P)·Σ_p x[n, p, c]`.
    public static func globalAveragePool(_ x: [Double], _ s: GlobalPoolShape) -> [Double] {
        var y = [Double](repeating: 0, count: s.outputCount)
        for n in 0..<s.batch {
            for p in 0..<s.positions {
                for c in 0..<s.channels { y[n * s.channels + c] += x[(n * s.positions + p) * s.channels + c] / Double(s.positions) }
            }
        }
        return y
    }

    /// The rows of `table` picked by `indices[offset...]` (NaN rows for indices outside the table).
    public static func gatherRows(_ table: [Double], _ indices: [Double], _ s: GatherShape) -> [Double] {
        (0..<s.count).flatMap { i -> [Double] in
            let index = indices[s.offset + i]
            guard index >= 0, index < Double(s.rows), index == index.rounded(.down) else {
                return [Double](repeating: .nan, count: s.columns)
            }
            return Array(table[(Int(index) * s.columns)..<((Int(index) + 1) * s.columns)])
        }
    }

    /// The views of ``AugmentShape`` in Double from the same uniform draws (``CounterRandom``): returns the
    /// per-view parameters [2B × 8] and the views.
    public static func augment(_ images: [Double], _ s: AugmentShape) -> (parameters: [Double], views: [Double]) {
        let (height, width, count) = (Double(s.height), Double(s.width), s.height * s.width * s.channels)
        let logLow = Foundation.log(Double(s.ratio.lowerBound)), logHigh = Foundation.log(Double(s.ratio.upperBound))
        let (low, high) = (Double(s.scale.lowerBound), Double(s.scale.upperBound))
        var parameters: [Double] = [], views: [Double] = []
        for view in 0..<s.views {
            let u = { (draw: UInt32) in Double(CounterRandom.uniform(seed: s.seed, counter: s.counter, stream: s.stream(ofView: view), draw: draw)) }
            var (w, h) = (width, height)
            for attempt in 0..<UInt32(AugmentShape.cropAttempts) {
                let share = low + (high - low) * u(2 * attempt), r = Foundation.exp(logLow + (logHigh - logLow) * u(2 * attempt + 1))
                let (cw, ch) = ((share * height * width * r).squareRoot(), (share * height * width / r).squareRoot())
                if cw <= width && ch <= height { (w, h) = (cw, ch); break }
            }
            let source = Array(images[((view % s.batch) * count)..<((view % s.batch + 1) * count)])
            let p = [u(CounterRandom.cornerXDraw) * (width - w), u(CounterRandom.cornerYDraw) * (height - h), w, h,
                     u(CounterRandom.flipDraw) < Double(s.flipProbability) ? 1 : 0,
                     1 + Double(s.brightness) * (2 * u(CounterRandom.brightnessDraw) - 1),
                     1 + Double(s.contrast) * (2 * u(CounterRandom.contrastDraw) - 1),
                     source.reduce(0, +) / Double(count)]
            parameters += p
            let at = { (y: Int, x: Int, c: Int) in source[(y * s.width + x) * s.channels + c] }
            for i in 0..<s.outputHeight {
                for j in 0..<s.outputWidth {
                    let column = p[4] > 0.5 ? s.outputWidth - 1 - j : j
                    let sx = min(max(p[0] + (Double(column) + 0.5) * p[2] / Double(s.outputWidth) - 0.5, 0), width - 1)
                    let sy = min(max(p[1] + (Double(i) + 0.5) * p[3] / Double(s.outputHeight) - 0.5, 0), height - 1)
                    let (x0, y0) = (Int(sx.rounded(.down)), Int(sy.rounded(.down)))
                    let (x1, y1) = (min(x0 + 1, s.width - 1), min(y0 + 1, s.height - 1))
                    let (fx, fy) = (sx - Double(x0), sy - Double(y0))
                    for c in 0..<s.channels {
                        var value = (1 - fy) * ((1 - fx) * at(y0, x0, c) + fx * at(y0, x1, c))
                            + fy * ((1 - fx) * at(y1, x0, c) + fx * at(y1, x1, c))
                        value = min(max(value * p[5], 0), 1)
                        value = min(max(p[6] * value + (1 - p[6]) * p[5] * p[7], 0), 1)
                        if s.noise > 0 {
                            let local = (i * s.outputWidth + j) * s.channels + c
                            let draw = CounterRandom.firstNoiseDraw &+ 2 &* UInt32(truncatingIfNeeded: local)
                            let (u1, u2) = (1 - u(draw), u(draw &+ 1))
                            value += Double(s.noise) * (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
                        }
                        views.append((value - Double(s.mean)) / Double(s.standardDeviation))
                    }
                }
            }
        }
        return (parameters, views)
    }
}
