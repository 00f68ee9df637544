"""Run the cosydeploy CLI under tracemalloc and say what Python memory its peak holds.

    python benchmarks/memprobe.py OUT.txt [cosydeploy arguments...]

Every ``MEMPROBE_EVERY`` seconds (default 1) a sampler thread reads the memory Python's
allocators hold (tracemalloc) and the process's RSS (``/proc/self/status``); when the
traced memory is higher than ever, it keeps a snapshot. At exit, ``OUT.txt`` gets the
samples (traced vs RSS over time: how much of the RSS is Python objects at all) and the
peak snapshot's largest holders, by source line and by call stack.

Slow (tracemalloc costs several times the CPU): for *what* holds memory, not for how
much time anything takes.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys
import threading
import time
import tracemalloc


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    out = sys.argv[1]
    every = float(os.environ.get("MEMPROBE_EVERY", "1"))
    tracemalloc.start(int(os.environ.get("MEMPROBE_FRAMES", "12")))
    t0 = time.monotonic()
    samples: list[tuple[float, float, float]] = []
    best_traced = 0
    best_snap: tracemalloc.Snapshot | None = None
    stop = threading.Event()

    def sample() -> None:
        nonlocal best_traced, best_snap
        while not stop.wait(every):
            cur, _ = tracemalloc.get_traced_memory()
            samples.append((time.monotonic() - t0, cur / 2**20, _rss_mb()))
            if cur > best_traced:
                best_traced, best_snap = cur, tracemalloc.take_snapshot()

    def report() -> None:
        stop.set()
        _, peak = tracemalloc.get_traced_memory()
        snap = best_snap
        with open(out, "w") as f:
            f.write(f"traced peak {peak / 2**20:.1f} MB; RSS at exit {_rss_mb():.0f} MB\n")
            f.write(f"threads at exit: {threading.active_count()}\n\n")
            f.write("seconds  traced MB  RSS MB\n")
            for t, tr, rss in samples:
                f.write(f"{t:7.1f}  {tr:9.1f}  {rss:6.0f}\n")
            if snap is None:
                return
            snap = snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            head = f"at the highest sample ({best_traced / 2**20:.1f} MB traced), by line"
            f.write(f"\n{head}:\n")
            for st in snap.statistics("lineno")[:40]:
                f.write(f"{st.size / 2**20:8.2f} MB {st.count:8d}  {st.traceback[0]}\n")
            f.write("\nby call stack (the 15 largest):\n")
            for st in snap.statistics("traceback")[:15]:
                f.write(f"\n{st.size / 2**20:8.2f} MB in {st.count} blocks\n")
                for line in st.traceback.format()[-24:]:
                    f.write(f"    {line}\n")

    threading.Thread(target=sample, daemon=True, name="memprobe").start()
    atexit.register(report)
    sys.argv = ["cosydeploy", *sys.argv[2:]]
    runpy.run_module("cosydeploy", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
