"""Virtual machines beside Docker-in-Docker: how long a 3-machine swarm takes to be ready, and
how much memory each machine takes, on the qemu provider (KVM where the computer has it, else
software emulation) and on dind, measured in the same run.

    .venv/bin/python benchmarks/bench_vms.py             # 3 machines, 1 round each
    .venv/bin/python benchmarks/bench_vms.py --rounds 2 --memory 768

"ready" = every node listed Ready by the manager (machine create, swarm init, swarm join).
Memory: a VM's is its QEMU process's resident set (VmRSS: the guest's memory as the host
pays for it, plus QEMU's own and, under emulation, its translation cache); a dind
machine's is what `docker stats` shows. The ratio printed is qemu / dind.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import docker
from bench_up import node_memory_mib

import swarmlab as sl
from swarmlab import _home

NAMES = ("manager1", "worker1", "worker2")


def vm_memory_mib(lab: sl.Lab) -> list[float]:
    """Each VM's QEMU process, VmRSS in MiB (found through the provider's checked pid)."""
    out = []
    for name in NAMES:
        pid = lab.provider._vm(name).pid()  # type: ignore[attr-defined]
        assert pid is not None, f"{name} has no QEMU process"
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        out.append(rss / 1024)
    return out


def ready_swarm(lab: sl.Lab) -> float:
    t0 = time.perf_counter()
    lab.machine.create(*NAMES)
    lab.swarm.init("manager1")
    lab.swarm.join(*NAMES[1:])
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--memory", type=int, default=1024, help="MiB per VM (default 1024)")
    args = ap.parse_args()
    host = docker.from_env(version="auto")
    results: dict[str, tuple[list[float], list[float]]] = {"dind": ([], []), "qemu": ([], [])}
    accel = ""
    for _ in range(args.rounds):
        for provider in ("dind", "qemu"):
            opts = {"internet": False, "memory": args.memory} if provider == "qemu" else {}
            lab = sl.Lab(f"bench-{uuid.uuid4().hex[:6]}", provider=provider, progress=False, **opts)
            try:
                seconds = ready_swarm(lab)
                time.sleep(5)  # settled: engines idle, swarm joined
                mem = vm_memory_mib(lab) if provider == "qemu" else node_memory_mib(host, lab.name)
                if provider == "qemu":
                    accel = lab.provider.acceleration  # type: ignore[attr-defined]
            finally:
                lab.destroy()
            results[provider][0].append(seconds)
            results[provider][1].extend(mem)
            print(f"  {provider}: ready in {seconds:.1f} s, MiB per machine {[round(m) for m in mem]}", flush=True)
    print(f"qemu: {accel}; {args.memory} MiB per VM; home {_home.home_path()}")
    print(f"{'provider':>8} {'ready s (median)':>17} {'MiB/machine median':>19} {'max':>6}")
    for provider, (secs, mem) in results.items():
        print(f"{provider:>8} {statistics.median(secs):>17.1f} {statistics.median(mem):>19.0f} {max(mem):>6.0f}")
    d, q = results["dind"], results["qemu"]
    print(f"ratio qemu/dind: ready {statistics.median(q[0]) / statistics.median(d[0]):.1f}x, "
          f"memory {statistics.median(q[1]) / statistics.median(d[1]):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
