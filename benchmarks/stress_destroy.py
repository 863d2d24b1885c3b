"""Destroy big labs again and again, under load: every destroy must finish (no exception),
say exactly what the engine kept, and the next destroy must remove that once the engine
allows.

    .venv/bin/python benchmarks/stress_destroy.py                 # 10 rounds of 40 machines
    .venv/bin/python benchmarks/stress_destroy.py --rounds 3 --machines 60 --no-swarm

Each round makes a lab (a swarm: manager1 and workers joined, unless --no-swarm), destroys it
and reads the host engine for anything carrying the lab's label. What a destroy leaves is
retried by a second destroy after a few seconds, then reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid

import docker

import swarmlab as sl


def labelled(host: docker.DockerClient, lab: str) -> dict[str, int]:
    f = {"label": f"io.swarmlab.lab={lab}"}
    return {"containers": len(host.containers.list(all=True, filters=f, sparse=True)),
            "volumes": len(host.volumes.list(filters=f)), "networks": len(host.networks.list(filters=f))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--machines", type=int, default=40)
    ap.add_argument("--no-swarm", action="store_true")
    args = ap.parse_args()
    host = docker.from_env(version="auto", timeout=300)
    times, kept, cleared_later, failed = [], 0, 0, 0
    print(f"{args.rounds} rounds of {args.machines} machines"
          f"{' (no swarm)' if args.no_swarm else ' in a swarm'}")
    for r in range(1, args.rounds + 1):
        lab = sl.Lab(f"stress-{uuid.uuid4().hex[:6]}", progress=False)
        workers = [f"worker{i}" for i in range(1, args.machines)]
        lab.machine.create("manager1", *workers, timeout=600)
        if not args.no_swarm:
            lab.swarm.init("manager1")
            lab.swarm.join(*workers, timeout=600)
        t0 = time.perf_counter()
        try:
            done = lab.destroy()
        except sl.SwarmlabError as e:  # the contract says this never happens
            failed += 1
            print(f"round {r}: destroy RAISED {type(e).__name__}: {str(e)[:200]}")
            continue
        took = time.perf_counter() - t0
        times.append(took)
        left = done.data["left_behind"]
        on_engine = labelled(host, lab.name)
        line = f"round {r}: destroy {took:.1f} s, engine keeps {on_engine}"
        if left:
            kept += 1
            time.sleep(5)
            again = lab.destroy()
            after = labelled(host, lab.name)
            if not again.data["left_behind"] and not any(after.values()):
                cleared_later += 1
            line += f"; said: {'; '.join(x.split(':')[0] for x in left)}; after a second destroy: {after}"
        elif any(on_engine.values()):
            line += "  <- NOT REPORTED"
            failed += 1
        print(line, flush=True)
    if times:
        print(f"destroy: median {statistics.median(times):.1f} s, longest {max(times):.1f} s; "
              f"{kept} of {len(times)} kept something (all said so), {cleared_later} cleared by the next "
              f"destroy; {failed} failures of the contract")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
