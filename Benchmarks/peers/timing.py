"""Shared timing for the peer scripts: warm up once, then repeat until both a time budget and a repeat count are
reached, and return the median (the same rule as `ldm bench`)."""
import json
import subprocess
import time


def median_time(step, min_seconds=1.0, min_repeats=5, sync=lambda: None):
    step()
    sync()
    samples, total = [], 0.0
    while total < min_seconds or len(samples) < min_repeats:
        start = time.perf_counter()
        step()
        sync()
        samples.append(time.perf_counter() - start)
        total += samples[-1]
    samples.sort()
    return samples[len(samples) // 2]


def compare_with_ldm(ldm, kernel, peers, peer_label, row_kernel=None):
    """Runs `ldm bench <kernel> --backend cpu --json` and prints a Markdown table of its rows (those named
    `row_kernel` when given) against `peers` (seconds by shape string)."""
    rows = json.loads(subprocess.run([ldm, "bench", kernel, "--backend", "cpu", "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    print(f"| shape | ldm cpu s | {peer_label} s | speed-up |")
    print("|---|---|---|---|")
    for row in rows:
        if row_kernel is not None and row["kernel"] != row_kernel:
            continue
        peer = peers[row["shape"]]
        print(f"| {row['shape']} | {row['seconds_median']:.5f} | {peer:.4f} | {peer / row['seconds_median']:.1f}x |")
