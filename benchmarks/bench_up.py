"""How fast swarmlab makes a swarm, and how much memory a machine takes, against the baseline:
a plain shell script of docker CLI calls (benchmarks/plain_swarm.sh), measured in the same run.

    .venv/bin/python benchmarks/bench_up.py            # 3 and 10 nodes, 3 rounds each
    .venv/bin/python benchmarks/bench_up.py 3 10 40 --rounds 1

"ready" = every node listed Ready by the manager. Rounds alternate swarmlab and the script,
and the median of each is compared. Targets: swarmlab within 1.2x of the script, every
node under 64 MiB.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker

import swarmlab as sl
from swarmlab.providers.dind import DindProvider

HERE = Path(__file__).parent


def node_memory_mib(host: docker.DockerClient, lab: str) -> list[float]:
    """Per node, what `docker stats` shows: usage minus inactive page cache."""
    out = []
    for c in host.containers.list(filters={"label": f"io.swarmlab.lab={lab}"}):
        m = c.stats(stream=False)["memory_stats"]
        st = m.get("stats", {})
        cache = st.get("total_inactive_file", st.get("inactive_file", 0))
        out.append((m.get("usage", 0) - cache) / 2**20)
    return out


def run_swarmlab(n: int) -> tuple[float, float, list[float], sl.Lab]:
    lab = sl.Lab(f"bench-{uuid.uuid4().hex[:6]}", progress=False)
    names = ["manager1", *[f"worker{i}" for i in range(1, n)]]
    t0 = time.perf_counter()
    lab.machine.create(*names)
    engines = time.perf_counter() - t0
    lab.swarm.init("manager1")
    if n > 1:
        lab.swarm.join(*names[1:])
    ready = time.perf_counter() - t0
    return engines, ready, [], lab


def run_plain(n: int, mode: str, image: str) -> tuple[float, float, str]:
    lab = f"plain-{uuid.uuid4().hex[:6]}"
    out = subprocess.run([str(HERE / "plain_swarm.sh"), lab, str(n), mode, image],
                         check=True, capture_output=True, text=True).stdout
    fields = dict(kv.split("=") for kv in out.split())
    return float(fields["engines"]), float(fields["ready"]), lab


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[3, 10])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    host = docker.from_env(version="auto")
    probe = DindProvider("bench-probe")
    image = probe.node_image
    # learn which security mode this engine accepts (and warm caches) with one small lab
    _, _, _, warm = run_swarmlab(1)
    mode = warm.provider.security()  # type: ignore[attr-defined]
    warm.destroy()
    print(f"node image {image}; machines run with {mode}")
    print(f"{'nodes':>5} {'who':>9} {'engines s':>10} {'ready s':>8} {'MiB/node median':>16} {'max':>6}")
    results = {}
    for n in args.sizes:
        sw, pl, mem_sw, mem_pl = [], [], [], []
        for _ in range(args.rounds):
            e, r, _, lab = run_swarmlab(n)
            time.sleep(2)  # let the engines settle before reading memory
            mem_sw += node_memory_mib(host, lab.name)
            lab.destroy()
            sw.append((e, r))
            e2, r2, plab = run_plain(n, mode, image)
            time.sleep(2)
            mem_pl += node_memory_mib(host, plab)
            subprocess.run([str(HERE / "plain_swarm.sh"), plab, "rm"], check=True)
            pl.append((e2, r2))
        se, sr = statistics.median(x[0] for x in sw), statistics.median(x[1] for x in sw)
        pe, pr = statistics.median(x[0] for x in pl), statistics.median(x[1] for x in pl)
        print(f"{n:>5} {'swarmlab':>9} {se:>10.2f} {sr:>8.2f} {statistics.median(mem_sw):>16.1f} {max(mem_sw):>6.1f}")
        print(f"{n:>5} {'script':>9} {pe:>10.2f} {pr:>8.2f} {statistics.median(mem_pl):>16.1f} {max(mem_pl):>6.1f}")
        results[n] = (sr / pr, max(mem_sw))
        print(f"{n:>5} {'ratio':>9} {se / pe:>10.2f} {sr / pr:>8.2f}   (swarmlab / script)")
    ok = all(r <= 1.2 and m < 64 for r, m in results.values())
    print("targets (ready within 1.2x of the script, every node < 64 MiB):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
