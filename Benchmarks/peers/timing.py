"""Shared timing for the peer scripts: warm up once, then repeat until both a time budget and a repeat count are
reached, and return the median (the same rule as `ldm bench`)."""
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
