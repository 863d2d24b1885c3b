"""How many learners doing lesson 03 at the same moment fit on this computer: N copies of
notebooks/03-services.ipynb executed at once (papermill, a kernel each, a 3-machine lab each,
offline images, the answer key on), as N learners running every cell of the lesson.

    .venv/bin/python benchmarks/bench_classroom.py                 # 1 (the baseline), 5, 10, 20
    .venv/bin/python benchmarks/bench_classroom.py --sizes 1,5 --keep-going

For each size: the lesson's time (median and slowest learner, and the ratio to one learner
alone, measured in the same run), the lessons that failed, the memory of each lab's machines
(docker stats at the end of the lesson, median and largest), the kernels' memory, the
host's memory in use at the peak, and the 1-minute load. Every lab is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker

import swarmlab as sl

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "03-services.ipynb"

#: one learner: the lesson, executed as papermill does for CI; prints its own time
LEARNER = """
import sys, time
import papermill as pm
t0 = time.monotonic()
pm.execute_notebook(sys.argv[1], sys.argv[2], parameters={"lab_name": sys.argv[3], "offline": True, "solve": True},
                    kernel_name="python3", cwd=sys.argv[4], progress_bar=False, execution_timeout=1800)
print(f"{time.monotonic() - t0:.1f}")
"""


def meminfo_used() -> int:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        info[key] = int(rest.split()[0]) * 1024
    return info["MemTotal"] - info["MemAvailable"]


def lab_memory(host: docker.DockerClient, lab: str) -> int:
    """The memory the lab's machines use now (docker stats: usage less page cache)."""
    total = 0
    for c in host.containers.list(filters={"label": [f"io.swarmlab.lab={lab}", "io.swarmlab.role=machine"]}):
        s = c.stats(stream=False)
        mem = s.get("memory_stats") or {}
        cache = (mem.get("stats") or {}).get("cache", 0) or (mem.get("stats") or {}).get("inactive_file", 0)
        total += int(mem.get("usage", 0)) - int(cache)
    return total


def kernel_memory() -> int:
    """The resident memory of every ipykernel on this computer."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            if b"ipykernel" not in cmd:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_class(n: int, host: docker.DockerClient, out: Path) -> dict:
    labs = [f"class{n}-{i}-{uuid.uuid4().hex[:4]}" for i in range(n)]
    times: list[float | None] = [None] * n
    errors: list[str] = []
    peak = {"host": meminfo_used(), "kernels": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(2.0):
            peak["host"] = max(peak["host"], meminfo_used())
            peak["kernels"] = max(peak["kernels"], kernel_memory())

    def learner(i: int) -> None:
        try:
            r = subprocess.run([sys.executable, "-c", LEARNER, str(LESSON), str(out / f"{labs[i]}.ipynb"), labs[i],
                                str(ROOT / "notebooks")], capture_output=True, text=True, timeout=3600)
        except subprocess.TimeoutExpired:
            errors.append(f"{labs[i]}: the lesson took more than an hour")
            return
        if r.returncode == 0:
            times[i] = float(r.stdout.strip().splitlines()[-1])
        else:
            errors.append(f"{labs[i]}: {(r.stderr.strip().splitlines() or ['?'])[-1][:200]}")

    before = meminfo_used()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=learner, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        load = os.getloadavg()[0]
        mems = [lab_memory(host, lab) for lab in labs]
    finally:
        done.set()
        for lab in labs:  # every lab, whatever happened
            sl.Lab(lab, provider="dind", progress=False).destroy()
    ok = [t for t in times if t is not None]
    return {"n": n, "wall": wall, "median": statistics.median(ok) if ok else float("nan"),
            "slowest": max(ok) if ok else float("nan"), "failed": errors, "lab_mem": mems,
            "host_peak": peak["host"] - before, "kernels": peak["kernels"], "load": load}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,5,10,20", help="learners at once, comma-separated (1 first: the baseline)")
    ap.add_argument("--keep-going", action="store_true", help="go on to the next size after failures")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    host = docker.from_env(version="auto", timeout=300)
    os.environ.setdefault("SWARMLAB_PROGRESS", "0")
    print(f"lesson 03 by N learners at once, {os.cpu_count()} CPUs, "
          f"{int(Path('/proc/meminfo').read_text().split()[1]) / 2**20:.1f} GiB")
    print(f"{'N':>3} {'wall':>7} {'median':>7} {'slowest':>8} {'x alone':>8} {'failed':>6} "
          f"{'lab MiB (med/max)':>18} {'host +GiB':>9} {'kernels GiB':>11} {'load':>5}")
    alone = None
    with tempfile.TemporaryDirectory(prefix="swarmlab-class-") as tmp:
        for n in sizes:
            r = run_class(n, host, Path(tmp))
            if alone is None:
                alone = r["median"]
            mib = [m / 2**20 for m in r["lab_mem"]] or [0.0]
            print(f"{n:>3} {r['wall']:>6.0f}s {r['median']:>6.0f}s {r['slowest']:>7.0f}s "
                  f"{r['slowest'] / alone:>7.2f}x {len(r['failed']):>6} "
                  f"{statistics.median(mib):>8.0f}/{max(mib):<9.0f} {r['host_peak'] / 2**30:>9.2f} "
                  f"{r['kernels'] / 2**30:>11.2f} {r['load']:>5.1f}", flush=True)
            for e in r["failed"]:
                print(f"    failed: {e}")
            if r["failed"] and not args.keep_going:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
