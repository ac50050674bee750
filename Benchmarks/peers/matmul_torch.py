#!/usr/bin/env python3
"""Times PyTorch float32 matmul on CUDA with TF32 off (strict FP32, what OpenCL can be compared with) on the
cases of `ldm bench matmul`, printing JSON rows shaped like ldm's. For GPU hosts; not run in CI.

Usage: python3 Benchmarks/peers/matmul_torch.py [--min-seconds 1]
"""
import json
import sys

import torch

CASES = [(1, 512, 512, 512), (1, 1024, 1024, 1024), (1, 2048, 2048, 2048), (1, 4096, 4096, 4096),
         (256, 64, 64, 64)]


def main():
    min_seconds = float(sys.argv[sys.argv.index("--min-seconds") + 1]) if "--min-seconds" in sys.argv else 1.0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for batch, m, n, k in CASES:
        a = torch.randn(batch, m, k, device="cuda")
        b = torch.randn(batch, k, n, device="cuda")
        run = (lambda: a[0] @ b[0]) if batch == 1 else (lambda: torch.bmm(a, b))
        run()
        torch.cuda.synchronize()
        samples, total = [], 0.0
        while total < min_seconds or len(samples) < 5:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / 1e3)
            total += samples[-1]
        samples.sort()
        median = samples[len(samples) // 2]
        shape = f"{m}x{n}x{k} NN" if batch == 1 else f"{batch}x({m}x{n}x{k}) NN"
        rows.append({"kernel": "matmul", "backend": "torch-cuda-fp32", "device": torch.cuda.get_device_name(),
                     "shape": shape, "seconds_median": median, "gflops": 2.0 * batch * m * n * k / median / 1e9})
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
