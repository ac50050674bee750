// A one-off measurement behind the CPU backend's choice of im2col + SGEMM for conv2d: a direct NHWC 3 × 3
// convolution forward (threads over output positions, the inner loop over output channels so it vectorises)
// against im2col + OpenBLAS SGEMM, at the reference encoder's three shapes, in one process. Not part of the
// build. Run: swiftc -O Benchmarks/experiments/direct_conv2d.swift -o /tmp/direct -lopenblas && OPENBLAS_NUM_THREADS=2 /tmp/direct
import Foundation
import Dispatch
@_silgen_name("cblas_sgemm") func cblas_sgemm(_ order: Int32, _ ta: Int32, _ tb: Int32, _ m: Int32, _ n: Int32, _ k: Int32, _ alpha: Float,
    _ a: UnsafePointer<Float>, _ lda: Int32, _ b: UnsafePointer<Float>, _ ldb: Int32, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int32)
func time(_ f: () -> Void) -> Double { f(); var best = 1e9; for _ in 0..<5 { let t = DispatchTime.now().uptimeNanoseconds; f(); best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9) }; return best }
for (n, h, cin, cout, s) in [(512, 28, 1, 32, 1), (512, 28, 32, 64, 2), (512, 14, 64, 128, 2)] {
    let w = h, k = 3, p = 1, oh = (h + 2 * p - k) / s + 1, ow = oh, patch = k * k * cin, positions = n * oh * ow
    let x = UnsafeMutablePointer<Float>.allocate(capacity: n * h * w * cin); for i in 0..<(n*h*w*cin) { x[i] = Float(i % 7) }
    let wt = UnsafeMutablePointer<Float>.allocate(capacity: cout * patch); for i in 0..<(cout*patch) { wt[i] = Float(i % 5) * 0.1 }
    // direct: weights transposed to [patch, cout] so the inner loop runs over output channels (vectorised).
    let wT = UnsafeMutablePointer<Float>.allocate(capacity: cout * patch); for o in 0..<cout { for q in 0..<patch { wT[q * cout + o] = wt[o * patch + q] } }
    let y1 = UnsafeMutablePointer<Float>.allocate(capacity: positions * cout), y2 = UnsafeMutablePointer<Float>.allocate(capacity: positions * cout)
    let cols = UnsafeMutablePointer<Float>.allocate(capacity: positions * patch)
    nonisolated(unsafe) let (px, pw, pwT, py1, py2, pc) = (x, wt, wT, y1, y2, cols)
    let im2col = time {
        DispatchQueue.concurrentPerform(iterations: 8) { chunk in
            for r in (positions * chunk / 8)..<(positions * (chunk + 1) / 8) {
                let (j, i, b) = (r % ow, (r / ow) % oh, r / (ow * oh))
                for u in 0..<k { for v in 0..<k {
                    let yy = i * s - p + u, xx = j * s - p + v, slot = pc + r * patch + (u * k + v) * cin
                    if yy >= 0 && yy < h && xx >= 0 && xx < w { slot.update(from: px + ((b * h + yy) * w + xx) * cin, count: cin) } else { slot.update(repeating: 0, count: cin) }
                } }
            }
        }
        cblas_sgemm(101, 111, 112, Int32(positions), Int32(cout), Int32(patch), 1, pc, Int32(patch), pw, Int32(patch), 0, py1, Int32(cout))
    }
    let direct = time {
        DispatchQueue.concurrentPerform(iterations: 8) { chunk in
            for r in (positions * chunk / 8)..<(positions * (chunk + 1) / 8) {
                let (j, i, b) = (r % ow, (r / ow) % oh, r / (ow * oh))
                let out = py2 + r * cout
                out.update(repeating: 0, count: cout)
                for u in 0..<k { for v in 0..<k {
                    let yy = i * s - p + u, xx = j * s - p + v
                    guard yy >= 0 && yy < h && xx >= 0 && xx < w else { continue }
                    let input = px + ((b * h + yy) * w + xx) * cin, weights = pwT + (u * k + v) * cin * cout
                    for c in 0..<cin { let a = input[c], row = weights + c * cout; for o in 0..<cout { out[o] += a * row[o] } }
                } }
            }
        }
    }
    var diff: Float = 0; for i in 0..<(positions * cout) { diff = max(diff, abs(y1[i] - y2[i])) }
    print(String(format: "%dx%dx%dx%d -> %d s%d: im2col+sgemm %.4f s, direct %.4f s (direct/im2col %.2f), max diff %g", n, h, w, cin, cout, s, im2col, direct, direct / im2col, diff))
}
