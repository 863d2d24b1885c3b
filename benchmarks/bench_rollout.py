"""What a rolling update costs: wall time, and engine API calls per poll of its wait, for this
tree and for an earlier revision of swarmlab, measured in the same run, alternating.

    .venv/bin/python benchmarks/bench_rollout.py                      # against 63d62db, 2 rounds
    .venv/bin/python benchmarks/bench_rollout.py --against HEAD~5 --rounds 3 --replicas 4
    .venv/bin/python benchmarks/bench_rollout.py --dashboard          # bench_dashboard.py too

Each round makes a 3-machine DinD lab with the offline images, creates ``web`` (swarmlab/web:1,
--replicas N --update-delay 1s) and times ``lab.service.update("web", image="swarmlab/web:2")``
while a response hook counts every HTTP request the machines' engines answer, and how many
times the wait polled (``wait_for`` calls its check). The earlier revision is checked out with
``git worktree`` into a temporary folder and imported from there in its own process.
``--dashboard`` also runs each tree's own ``benchmarks/bench_dashboard.py --recorded-only``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ROUND = r'''
import json, os, sys, time, uuid
os.environ["SWARMLAB_PROGRESS"] = "0"
import swarmlab as sl
from swarmlab import _wait

replicas = int(sys.argv[1])
polls = {"n": 0}
real = _wait.wait_for
def counting(check, **kw):
    def counted():
        polls["n"] += 1
        return check()
    return real(counted, **kw)
# the service commands import wait_for by name: patch it where it is looked up
for mod in list(sys.modules.values()):
    if getattr(mod, "wait_for", None) is real and mod.__name__.startswith("swarmlab"):
        mod.wait_for = counting

lab = sl.Lab(f"bench-{uuid.uuid4().hex[:6]}", provider="dind", progress=False)
try:
    lab.machine.create("manager1", "worker1", "worker2")
    lab.swarm.init("manager1")
    lab.swarm.join("worker1", "worker2")
    lab.image.load("swarmlab/web:1", "swarmlab/web:2")
    lab.service.create("web", "swarmlab/web:1", replicas=replicas, update_delay="1s")
    calls = []
    hook = lambda resp, *a, **k: calls.append(resp.request.path_url.split("?")[0].rsplit("/", 1)[-1])
    for m in ("manager1", "worker1", "worker2"):
        lab.provider.client(m).api.hooks.setdefault("response", []).append(hook)
    polls["n"] = 0
    t0 = time.perf_counter()
    lab.service.update("web", image="swarmlab/web:2")
    took = time.perf_counter() - t0
    print(json.dumps({"seconds": took, "calls": len(calls), "polls": polls["n"]}))
finally:
    lab.destroy()
'''


def run_round(tree: Path, replicas: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", ROUND, str(replicas)], env=env, cwd=tree,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"round in {tree} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", default="63d62db", help="the earlier revision (default: before the commands package)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--dashboard", action="store_true", help="also bench_dashboard.py --recorded-only in both trees")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="swarmlab-bench-") as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before), args.against],
                       check=True)
        try:
            trees = {f"before ({args.against})": before, "after (this tree)": ROOT}
            results: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
            for r in range(args.rounds):
                for name, tree in (trees.items() if r % 2 == 0 else reversed(list(trees.items()))):
                    res = run_round(tree, args.replicas)
                    results[name].append(res)
                    print(f"round {r + 1} {name}: {res['seconds']:.1f}s, {res['calls']} calls in "
                          f"{res['polls']} polls ({res['calls'] / max(res['polls'], 1):.1f} per poll)", flush=True)
            print(f"\nrolling update of {args.replicas} replicas, --update-delay 1s, medians of {args.rounds}:")
            med = {}
            for name, rs in results.items():
                med[name] = {k: statistics.median(x[k] for x in rs) for k in ("seconds", "calls", "polls")}
                m = med[name]
                print(f"  {name:<24} {m['seconds']:6.1f} s   {m['calls'] / max(m['polls'], 1):4.1f} calls/poll")
            b, a = med[f"before ({args.against})"], med["after (this tree)"]
            print(f"  ratio after/before: time {a['seconds'] / b['seconds']:.2f}x, calls per poll "
                  f"{(a['calls'] / max(a['polls'], 1)) / (b['calls'] / max(b['polls'], 1)):.2f}x")
            if args.dashboard:
                for name, tree in trees.items():
                    print(f"\n== dashboard, {name} ==", flush=True)
                    subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_dashboard.py"), "--recorded-only"],
                                   env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree, check=False)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)


if __name__ == "__main__":
    main()
