"""How long a swarm takes to heal, on real DinD swarms: leader failover and node-loss
reschedule, median of N rounds, printed beside the engine's own settings that explain them.

    .venv/bin/python benchmarks/bench_failover.py             # 5 rounds
    .venv/bin/python benchmarks/bench_failover.py --rounds 3

One lab (3 managers, 2 workers, offline images) and a service ``web`` of 6 replicas. Each
round:
- **failover**: the leader's machine is killed (``docker kill``); timed until a new leader
  answers (``lab.swarm.leader(wait=True)``), and until ``docker service scale`` is accepted
  again. The same moment is also watched with the plain docker CLI inside a surviving
  manager (``docker node ls`` until another node is Leader), in the same run: the baseline
  that shows what swarmlab's own waiting adds. The killed machine is then started again.
- **reschedule**: a worker running tasks of ``web`` is killed; timed until the manager lists
  6 running tasks on nodes that are up. The worker is then started again.

The engine's settings come from ``docker info`` (Raft ElectionTick x 1 s ticks, the
dispatcher's HeartbeatPeriod): an election starts after about ElectionTick seconds without a
leader's heartbeat. A killed worker's tasks come back sooner than its missed heartbeats would
say: its connection to the manager breaks at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid

os.environ["SWARMLAB_PROGRESS"] = "0"

import swarmlab as sl  # noqa: E402

MANAGERS = ("manager1", "manager2", "manager3")


def cli_new_leader(lab: sl.Lab, watcher: str, old: str, out: dict[str, float], t0: float) -> None:
    """Poll ``docker node ls`` with the CLI inside ``watcher`` until a node other than ``old``
    is Leader; record the time in ``out["cli"]``."""
    fmt = "{{.Hostname}} {{.ManagerStatus}}"
    while time.monotonic() - t0 < 180:
        res = lab.provider.run(watcher, f"docker node ls --format '{fmt}'")
        if res.exit_code == 0:
            leaders = [line.split()[0] for line in res.output.splitlines() if line.endswith(" Leader")]
            if leaders and leaders[0] != old:
                out["cli"] = time.monotonic() - t0
                return
        time.sleep(0.2)


def scale_accepted(lab: sl.Lab, replicas: int, t0: float) -> float:
    while True:
        try:
            lab.service.scale(web=replicas, wait=False)
            return time.monotonic() - t0
        except sl.DockerError:
            time.sleep(0.2)


def six_running(lab: sl.Lab) -> bool:
    try:
        api = lab.manager_client().api
        down = {n["ID"] for n in api.nodes() if n["Status"]["State"] != "ready"}
        tasks = api.tasks(filters={"service": "web", "desired-state": "running"})
    except sl.SwarmlabError:
        return False
    except Exception:  # noqa: BLE001 - the engine is busy electing: not yet
        return False
    return sum(1 for t in tasks if t["Status"]["State"] == "running" and t.get("NodeID") not in down) == 6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    lab = sl.Lab(f"bench-{uuid.uuid4().hex[:6]}", provider="dind", progress=False, offline=True)
    rows: dict[str, list[float]] = {"leader": [], "cli": [], "scale": [], "reschedule": []}
    try:
        t = time.monotonic()
        lab.up(managers=3, workers=2)
        print(f"lab.up(managers=3, workers=2): {time.monotonic() - t:.1f} s")
        lab.image.load("swarmlab/busybox:latest")
        lab.service.create("web", "swarmlab/busybox:latest", "ping", "127.0.0.1", replicas=6)
        cluster = lab.client(lab.manager()).info()["Swarm"]["Cluster"]["Spec"]
        election, heartbeat = cluster["Raft"]["ElectionTick"], cluster["Raft"]["HeartbeatTick"]
        dispatcher = cluster["Dispatcher"]["HeartbeatPeriod"] / 1e9
        print(f"engine settings: Raft ElectionTick {election}, HeartbeatTick {heartbeat} (1 s ticks); "
              f"Dispatcher HeartbeatPeriod {dispatcher:.0f} s")
        for r in range(args.rounds):
            old = str(lab.swarm.leader())
            watcher = next(m for m in MANAGERS if m != old)
            seen: dict[str, float] = {}
            t0 = time.monotonic()
            lab.machine.kill(old, wait=False)  # timed from the kill, not from its noticing
            cli = threading.Thread(target=cli_new_leader, args=(lab, watcher, old, seen, t0))
            cli.start()
            lab.swarm.leader(wait=True, timeout=180)
            rows["leader"].append(time.monotonic() - t0)
            rows["scale"].append(scale_accepted(lab, 6, t0))
            cli.join()
            rows["cli"].append(seen.get("cli", float("nan")))
            lab.machine.start(old, timeout=180)

            worker = max(("worker1", "worker2"), key=lambda w: len(lab.ssh(w, "docker ps -q").split()))
            t0 = time.monotonic()
            lab.machine.kill(worker, wait=False)
            while not (six_running(lab) and time.monotonic() - t0 > 1):
                time.sleep(0.2)
            rows["reschedule"].append(time.monotonic() - t0)
            lab.machine.start(worker, timeout=180)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in rows.items()))
    finally:
        lab.destroy()
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"\nmedian of {args.rounds} rounds, 3 managers + 2 workers, web: 6 replicas")
    print(f"  leader killed -> new leader (swarmlab leader(wait=True)): {med['leader']:6.1f} s")
    print(f"  leader killed -> new leader (docker node ls, baseline):    {med['cli']:6.1f} s"
          f"   ratio {med['leader'] / med['cli']:.2f}")
    print(f"  leader killed -> service scale accepted:                  {med['scale']:6.1f} s")
    print(f"  worker killed -> 6 tasks running again elsewhere:         {med['reschedule']:6.1f} s"
          f"   ({med['reschedule'] / dispatcher:.1f} dispatcher heartbeat periods)")
    print(f"  engine settings: an election starts after {election} missed Raft ticks of {heartbeat} s; "
          f"the dispatcher's heartbeat period is {dispatcher:.0f} s")


if __name__ == "__main__":
    main()
