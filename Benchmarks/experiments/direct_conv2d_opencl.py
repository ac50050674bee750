#!/usr/bin/env python3
"""A measurement behind the OpenCL backend's choice of im2col + matmul for conv2d: a direct NHWC convolution kernel
(one work-item per output value, looping over the 3 x 3 x Cin window) timed with pyopencl on an OpenCL device,
against `ldm bench conv2d --backend opencl` (im2col + CLBlast SGEMM + bias) run from this script, forward only, at
the reference encoder's three shapes. Needs `pip install pyopencl`. Not run in CI.
Usage: python3 Benchmarks/experiments/direct_conv2d_opencl.py [path/to/ldm] [--device N]"""
import json
import subprocess
import sys
import time

import numpy as np
import pyopencl as cl

DIRECT = """
__kernel void direct(const int n, const int h, const int w, const int cin, const int cout, const int stride,
                     const int oh, const int ow, __global const float *x, __global const float *wt,
                     __global const float *b, __global float *y) {
    const int e = get_global_id(0);
    if (e >= n * oh * ow * cout) return;
    const int o = e % cout, t = e / cout, j = t % ow, ni = t / ow, i = ni % oh, img = ni / oh;
    float sum = b[o];
    for (int u = 0; u < 3; ++u) {
        const int yy = i * stride - 1 + u;
        if (yy < 0 || yy >= h) continue;
        for (int v = 0; v < 3; ++v) {
            const int xx = j * stride - 1 + v;
            if (xx < 0 || xx >= w) continue;
            __global const float *px = x + ((img * h + yy) * w + xx) * cin;
            __global const float *pw = wt + ((o * 3 + u) * 3 + v) * cin;
            for (int c = 0; c < cin; ++c) sum += pw[c] * px[c];
        }
    }
    y[e] = sum;
}
"""
SHAPES = [(512, 28, 1, 32, 1), (512, 28, 32, 64, 2), (512, 14, 64, 128, 2)]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ldm = args[0] if args else ".build/release/ldm"
    index = int(sys.argv[sys.argv.index("--device") + 1]) if "--device" in sys.argv else 0
    devices = [d for p in cl.get_platforms() for d in p.get_devices()]
    device = devices[index]
    context = cl.Context([device])
    queue = cl.CommandQueue(context)
    program = cl.Program(context, DIRECT).build()
    kernel = cl.Kernel(program, "direct")
    direct = {}
    for n, h, cin, cout, s in SHAPES:
        oh = (h + 2 - 3) // s + 1
        x = np.random.rand(n, h, h, cin).astype(np.float32)
        wt = np.random.rand(cout, 3, 3, cin).astype(np.float32)
        b = np.random.rand(cout).astype(np.float32)
        mf = cl.mem_flags
        bx, bw, bb = (cl.Buffer(context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=a) for a in (x, wt, b))
        count = n * oh * oh * cout
        by = cl.Buffer(context, mf.WRITE_ONLY, 4 * count)
        kernel.set_args(*[np.int32(v) for v in (n, h, h, cin, cout, s, oh, oh)], bx, bw, bb, by)
        size = (count + 255) // 256 * 256
        cl.enqueue_nd_range_kernel(queue, kernel, (size,), (256,)).wait()
        samples = []
        while sum(samples) < 1.0 or len(samples) < 5:
            start = time.perf_counter()
            cl.enqueue_nd_range_kernel(queue, kernel, (size,), (256,)).wait()
            samples.append(time.perf_counter() - start)
        direct[(n, h, cin, cout, s)] = sorted(samples)[len(samples) // 2]
    rows = json.loads(subprocess.run([ldm, "bench", "conv2d", "--backend", "opencl", "--device", str(index), "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    forward = [r for r in rows if r["kernel"] == "conv2d fwd"]
    print(f"device: {device.name}")
    print("| shape | im2col + CLBlast s | direct s | direct / im2col |")
    print("|---|---|---|---|")
    for row, key in zip(forward, SHAPES):
        print(f"| {row['shape']} | {row['seconds_median']:.4f} | {direct[key]:.4f} | {direct[key] / row['seconds_median']:.2f} |")


if __name__ == "__main__":
    main()
