"""The benchmarks' one timer (imported by the scripts beside it)."""
from __future__ import annotations

import time
from collections.abc import Callable


def best_time(function: Callable[[], object], repeats: int = 3, warmup: bool = False) -> float:
    """Best wall-clock seconds of `repeats` calls (after one untimed call if `warmup`)."""
    if warmup:
        function()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)
