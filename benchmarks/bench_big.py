"""Big labs on one small computer: how long until every node of an N-machine swarm is Ready,
with swarmlab and with the plain docker CLI script (benchmarks/plain_swarm.sh), measured in
the same run, alternating, at each size; memory per machine; how long destroy takes.

    .venv/bin/python benchmarks/bench_big.py                  # 60, 80 and 100 machines
    .venv/bin/python benchmarks/bench_big.py 40 60 --rounds 2 --deadline 600

"ready" = the manager lists all N nodes Ready. A size neither finishes within --deadline
seconds is reported with how many nodes were Ready then. "steady" = nodes still Ready 60 s
later (a swarm the computer cannot keep up loses nodes to missed heartbeats).

Machines of this size need room in the kernel's neighbour table (scripts/setup raises it as
root; swarmlab refuses a lab that would overflow it and says how).
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
from swarmlab._exec import exec_output
from swarmlab._util import parallel_map

HERE = Path(__file__).parent
STEADY_AFTER = 60.0


def memory_mib(host: docker.DockerClient, lab: str) -> list[float]:
    """Per machine, what `docker stats` shows (usage minus inactive page cache), read once."""
    def one(c: docker.models.containers.Container) -> float:
        m = host.api.stats(c.id, stream=False, one_shot=True)["memory_stats"]
        st = m.get("stats", {})
        return float(m.get("usage", 0) - st.get("total_inactive_file", st.get("inactive_file", 0))) / 2**20

    return parallel_map(one, host.containers.list(filters={"label": f"io.swarmlab.lab={lab}"}))


def ready_count(host: docker.DockerClient, container: str) -> int:
    try:
        out = exec_output(host, container, ["docker", "node", "ls", "--format", "{{.Status}}"])
        return out.text.split().count("Ready")
    except docker.errors.DockerException:
        return -1


def run_swarmlab(n: int, deadline: float) -> dict:
    lab = sl.Lab(f"big-{uuid.uuid4().hex[:6]}", progress=False)
    workers = [f"worker{i}" for i in range(1, n)]
    out: dict = {"who": "swarmlab", "lab": lab}
    t0 = time.perf_counter()
    try:
        lab.machine.create("manager1", *workers, timeout=deadline)
        out["engines"] = time.perf_counter() - t0
        lab.swarm.init("manager1")
        lab.swarm.join(*workers, timeout=max(1.0, deadline - (time.perf_counter() - t0)))
        out["ready"] = time.perf_counter() - t0
    except sl.SwarmlabError as e:
        out["error"] = str(e).splitlines()[0][:200]
    out["manager"] = lab.provider.names.container("manager1")  # type: ignore[attr-defined]
    return out


def run_plain(n: int, deadline: float, mode: str, image: str) -> dict:
    lab = f"plain{uuid.uuid4().hex[:6]}"
    out: dict = {"who": "script", "lab": lab, "manager": f"{lab}-n1"}
    try:
        text = subprocess.run([str(HERE / "plain_swarm.sh"), lab, str(n), mode, image], check=True,
                              capture_output=True, text=True, timeout=deadline).stdout
        fields = dict(kv.split("=") for kv in text.split())
        out.update(engines=float(fields["engines"]), ready=float(fields["ready"]))
    except subprocess.TimeoutExpired:
        out["error"] = f"not ready in {deadline:.0f} s"
    return out


def settle_and_measure(host: docker.DockerClient, r: dict, n: int) -> None:
    r["ready_nodes"] = ready_count(host, r["manager"])
    r["mem"] = memory_mib(host, r["lab"] if r["who"] == "script" else r["lab"].name)
    if "ready" in r:
        time.sleep(STEADY_AFTER)
        r["steady"] = ready_count(host, r["manager"])


def clean(r: dict) -> None:
    t0 = time.perf_counter()
    if r["who"] == "swarmlab":
        done = r["lab"].destroy()
        r["left"] = done.data["left_behind"]
    else:
        subprocess.run([str(HERE / "plain_swarm.sh"), r["lab"], "rm"], check=False)
    r["destroy"] = time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[60, 80, 100])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--deadline", type=float, default=900.0)
    args = ap.parse_args()
    host = docker.from_env(version="auto", timeout=300)
    probe = sl.Lab(f"big-probe-{uuid.uuid4().hex[:4]}", progress=False)
    probe.machine.create("m1")
    mode, image = probe.provider.security(), probe.provider.node_image  # type: ignore[attr-defined]
    probe.destroy()
    print(f"node image {image}; machines run with {mode}; deadline {args.deadline:.0f} s; "
          f"{args.rounds} round(s), swarmlab and the script alternating")
    head = (f"{'N':>4} {'who':>9} {'engines s':>10} {'ready s':>8} {'Ready':>6} {'steady':>7} "
            f"{'MiB med':>8} {'MiB max':>8} {'destroy s':>10}")
    print(head)
    table: dict[int, dict[str, list[dict]]] = {}
    for n in args.sizes:
        for rnd in range(args.rounds):
            order = ("swarmlab", "script") if rnd % 2 == 0 else ("script", "swarmlab")
            for who in order:
                r = run_swarmlab(n, args.deadline) if who == "swarmlab" else run_plain(n, args.deadline, mode, image)
                settle_and_measure(host, r, n)
                clean(r)
                table.setdefault(n, {}).setdefault(who, []).append(r)
                mem = r["mem"] or [0.0]
                ready = f"{r['ready']:.1f}" if "ready" in r else "-"
                print(f"{n:>4} {who:>9} {r.get('engines', float('nan')):>10.1f} {ready:>8} "
                      f"{r['ready_nodes']:>6} {r.get('steady', '-'):>7} {statistics.median(mem):>8.1f} "
                      f"{max(mem):>8.1f} {r['destroy']:>10.1f}"
                      + (f"   {r['error']}" if "error" in r else "")
                      + (f"   left: {r['left']}" if r.get("left") else ""), flush=True)
    print("\nmedian time to every node Ready (swarmlab / script):")
    for n, by in table.items():
        def med(rs: list[dict]) -> float | None:
            xs = [r["ready"] for r in rs if "ready" in r]
            return statistics.median(xs) if len(xs) == len(rs) else None
        s, p = med(by.get("swarmlab", [])), med(by.get("script", []))
        ratio = f"{s / p:.2f}x" if s and p else "-"
        print(f"{n:>4} machines: swarmlab {s and f'{s:.1f} s' or 'did not finish'}, "
              f"script {p and f'{p:.1f} s' or 'did not finish'}, ratio {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
