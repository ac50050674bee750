import Foundation
import LDMEngine

/// augment (CPU twin of Kernels/augment.cl): each view's crop, flip and jitter factors from the counter-based
/// generator, then every output value by bilinear sampling, jitter, noise and normalisation, in the kernel's float
/// arithmetic and order (threads take whole views).
extension CPUBackend {
    public func uncheckedAugmentParameters(_ images: Tensor, into parameters: Tensor, _ s: AugmentShape) throws {
        let op = "augment \(s)"
        let pi = try floats(images, op), pp = try floats(parameters, op)
        let (height, width, count) = (Float(s.height), Float(s.width), s.height * s.width * s.channels)
        let (logLow, logHigh) = s.logRatio
        Parallel.forChunks(s.views, threads: threads, costPerItem: count) { views in
            for view in views {
                let u = { (draw: UInt32) in CounterRandom.uniform(seed: s.seed, counter: s.counter, stream: s.stream(ofView: view), draw: draw) }
                var (w, h) = (width, height)
                for attempt in 0..<UInt32(AugmentShape.cropAttempts) {
                    let share = s.scale.lowerBound + (s.scale.upperBound - s.scale.lowerBound) * u(2 * attempt)
                    let r = Foundation.exp(logLow + (logHigh - logLow) * u(2 * attempt + 1))
                    let cw = (share * height * width * r).squareRoot(), ch = (share * height * width / r).squareRoot()
                    if cw <= width && ch <= height { (w, h) = (cw, ch); break }
                }
                let image = pi + (view % s.batch) * count
                var sum: Float = 0
                for k in 0..<count { sum += image[k] }
                let p = pp + view * AugmentShape.parameterCount
                p[0] = u(CounterRandom.cornerXDraw) * (width - w)
                p[1] = u(CounterRandom.cornerYDraw) * (height - h)
                p[2] = w
                p[3] = h
                p[4] = u(CounterRandom.flipDraw) < s.flipProbability ? 1 : 0
                p[5] = 1 + s.brightness * (2 * u(CounterRandom.brightnessDraw) - 1)
                p[6] = 1 + s.contrast * (2 * u(CounterRandom.contrastDraw) - 1)
                p[7] = sum / Float(count)
            }
        }
    }

    public func uncheckedAugmentApply(_ images: Tensor, _ parameters: Tensor, into views: Tensor, _ s: AugmentShape) throws {
        let op = "augment \(s)"
        let pi = try floats(images, op), pp = try floats(parameters, op), pv = try floats(views, op)
        let (height, width, channels, oh, ow) = (s.height, s.width, s.channels, s.outputHeight, s.outputWidth)
        let perView = oh * ow * channels
        Parallel.forChunks(s.views, threads: threads, costPerItem: perView * 8) { chosen in
            for view in chosen {
                let p = pp + view * AugmentShape.parameterCount
                let image = pi + (view % s.batch) * height * width * channels, out = pv + view * perView
                for i in 0..<oh {
                    for j in 0..<ow {
                        let column = p[4] > 0.5 ? ow - 1 - j : j
                        let sx = min(max(p[0] + (Float(column) + 0.5) * p[2] / Float(ow) - 0.5, 0), Float(width - 1))
                        let sy = min(max(p[1] + (Float(i) + 0.5) * p[3] / Float(oh) - 0.5, 0), Float(height - 1))
                        let (x0, y0) = (Int(sx.rounded(.down)), Int(sy.rounded(.down)))
                        let (x1, y1) = (min(x0 + 1, width - 1), min(y0 + 1, height - 1))
                        let (fx, fy) = (sx - Float(x0), sy - Float(y0))
                        for c in 0..<channels {
                            let top = (1 - fx) * image[(y0 * width + x0) * channels + c] + fx * image[(y0 * width + x1) * channels + c]
                            let bottom = (1 - fx) * image[(y1 * width + x0) * channels + c] + fx * image[(y1 * width + x1) * channels + c]
                            var value = (1 - fy) * top + fy * bottom
                            value = min(max(value * p[5], 0), 1)
                            value = min(max(p[6] * value + (1 - p[6]) * p[5] * p[7], 0), 1)
                            let local = (i * ow + j) * channels + c
                            if s.noise > 0 {
                                let draw = CounterRandom.firstNoiseDraw &+ 2 &* UInt32(truncatingIfNeeded: local)
                                let u1 = 1 - CounterRandom.uniform(seed: s.seed, counter: s.counter, stream: s.stream(ofView: view), draw: draw)
                                let u2 = CounterRandom.uniform(seed: s.seed, counter: s.counter, stream: s.stream(ofView: view), draw: draw &+ 1)
                                value += s.noise * (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(6.283185307179586 * u2)
                            }
                            out[local] = (value - s.mean) / s.standardDeviation
                        }
                    }
                }
            }
        }
    }
}
