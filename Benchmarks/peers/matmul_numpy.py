#!/usr/bin/env python3
"""Times NumPy's float32 matmul (its bundled OpenBLAS) on the cases of `ldm bench matmul`, then runs
`ldm bench matmul --backend cpu --json` in the same script, and prints both with the ratio.

Usage: python3 Benchmarks/peers/matmul_numpy.py [path/to/ldm] [--min-seconds 1]
Not run in CI. Both read OPENBLAS_CORETYPE the same way, so the comparison is like for like.
"""
import json
import subprocess
import sys

import numpy as np

from timing import median_time

CASES = [(1, 512, 512, 512), (1, 1024, 1024, 1024), (1, 2048, 2048, 2048), (256, 64, 64, 64)]


def shape_name(batch, m, n, k):
    return f"{m}x{n}x{k} NN" if batch == 1 else f"{batch}x({m}x{n}x{k}) NN"


def time_numpy(batch, m, n, k, min_seconds):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, m, k), dtype=np.float32)
    b = rng.standard_normal((batch, k, n), dtype=np.float32)
    run = (lambda: a[0] @ b[0]) if batch == 1 else (lambda: np.matmul(a, b))
    return median_time(run, min_seconds)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    ldm = args[0] if args else ".build/release/ldm"
    min_seconds = float(sys.argv[sys.argv.index("--min-seconds") + 1]) if "--min-seconds" in sys.argv else 1.0
    numpy_rows = {}
    for case in CASES:
        median = time_numpy(*case, min_seconds)
        batch, m, n, k = case
        numpy_rows[shape_name(*case)] = 2.0 * batch * m * n * k / median / 1e9
    out = subprocess.run([ldm, "bench", "matmul", "--backend", "cpu", "--json", "--min-seconds", str(min_seconds)],
                         check=True, capture_output=True, text=True).stdout
    print("| shape | ldm cpu GFLOP/s | NumPy GFLOP/s | ratio |")
    print("|---|---|---|---|")
    for row in json.loads(out):
        peer = numpy_rows.get(row["shape"])
        ratio = row["gflops"] / peer if peer else float("nan")
        print(f"| {row['shape']} | {row['gflops']:.1f} | {peer:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
