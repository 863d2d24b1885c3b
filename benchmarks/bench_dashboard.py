"""What one dashboard refresh costs: engine API calls, wall time and kernel (CPU) time.

    .venv/bin/python benchmarks/bench_dashboard.py                 # both parts below
    .venv/bin/python benchmarks/bench_dashboard.py --recorded-only
    .venv/bin/python benchmarks/bench_dashboard.py --nodes 40 --tasks 400   # real swarm size
    .venv/bin/python benchmarks/bench_dashboard.py --lab tutorial   # a lab that exists, e.g.
                                                   # the one lesson 14 leaves (50 nodes, 500 tasks)

A refresh is what the dashboard's background thread does every 1-2 s: ask the manager for
nodes, services and tasks, build the picture, render its HTML (the widget's trait value).

1. recorded: real engine answers (tests/views/data/swarm_answers.json, from a 3-node swarm)
   scaled to 40 nodes and 400 live tasks (+ history), served as JSON over HTTP by a separate
   process on 127.0.0.1, so docker-py's request and JSON decoding are in the figures. The
   server counts the API calls it answers.
2. real: a DinD swarm of --nodes machines (default 10) running --tasks tasks (default 100) on
   the local engine; calls are counted on the client. The lab is destroyed afterwards. With
   --lab NAME, that lab as it is instead (nothing made, nothing removed).

Target: at most three engine API calls and under 100 ms of kernel time per refresh.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("SWARMLAB_PROGRESS", "0")

import docker  # noqa: E402

from swarmlab.views import SwarmSource, picture_html  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = ROOT / "tests" / "views" / "data" / "swarm_answers.json"

SERVER = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
data = json.load(open(sys.argv[1]))
bodies = {k: json.dumps(v).encode() for k, v in data.items()}
calls = {"n": 0}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        path = self.path.split("?")[0].rsplit("/", 1)[-1]
        if path == "calls":
            body = json.dumps(calls["n"]).encode()
        else:
            calls["n"] += 1
            body = bodies.get(path, b"[]")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
'''


def scaled_answers(n_nodes: int, n_tasks: int) -> dict:
    """The recorded 3-node answers grown to n_nodes nodes and n_tasks live tasks (10 services),
    plus one finished task per four live ones (the history a swarm keeps)."""
    rec = json.loads(ANSWERS.read_text())
    leader = next(n for n in rec["nodes"] if (n.get("ManagerStatus") or {}).get("Leader"))
    worker = next(n for n in rec["nodes"] if n["Spec"]["Role"] == "worker")
    nodes = []
    for i in range(n_nodes):
        n = copy.deepcopy(leader if i == 0 else worker)
        n["ID"] = f"node{i:021d}"
        n["Description"]["Hostname"] = "manager1" if i == 0 else f"worker{i}"
        nodes.append(n)
    live = next(t for t in rec["tasks"] if t["DesiredState"] == "running")
    old = next(t for t in rec["tasks"] if t["DesiredState"] != "running")
    services = {f"svc{s:021d}": f"service{s}" for s in range(10)}
    tasks = []
    sids = list(services)
    for i in range(n_tasks):
        t = copy.deepcopy(live)
        t["ID"], t["ServiceID"] = f"task{i:021d}", sids[i % 10]
        t["Slot"], t["NodeID"] = i // 10 + 1, nodes[i % n_nodes]["ID"]
        tasks.append(t)
    for i in range(n_tasks // 4):
        t = copy.deepcopy(old)
        t["ID"], t["ServiceID"] = f"old{i:022d}", sids[i % 10]
        t["Slot"], t["NodeID"] = i // 10 + 1, nodes[i % n_nodes]["ID"]
        tasks.append(t)
    svc_list = [{"ID": k, "Spec": {"Name": v}} for k, v in services.items()]
    return {"nodes": nodes, "tasks": tasks, "services": svc_list}


def measure(source: SwarmSource, rounds: int, calls_now) -> dict:
    source.fetch()  # a first refresh, not counted (connections are opened)
    walls, cpus, calls = [], [], []
    for _ in range(rounds):
        c0 = calls_now()
        w0, p0 = time.perf_counter(), time.process_time()
        picture = source.fetch()
        picture_html(picture, "swarm of lab bench")
        cpus.append((time.process_time() - p0) * 1000)
        walls.append((time.perf_counter() - w0) * 1000)
        calls.append(calls_now() - c0)
    return {"nodes": len(picture.columns), "live tasks": sum(1 for c in picture.cards),
            "calls/refresh": max(calls), "wall ms median": statistics.median(walls),
            "wall ms max": max(walls), "kernel CPU ms median": statistics.median(cpus),
            "kernel CPU ms max": max(cpus)}


def report(title: str, r: dict) -> None:
    print(f"\n{title}")
    for k, v in r.items():
        print(f"  {k:<22} {v:.1f}" if isinstance(v, float) else f"  {k:<22} {v}")
    ok = r["calls/refresh"] <= 3 and r["kernel CPU ms median"] < 100
    print(f"  target (<=3 calls, <100 ms kernel time): {'met' if ok else 'NOT met'}")


def recorded(rounds: int) -> None:
    data = scaled_answers(40, 400)
    path = Path(f"/tmp/swarmlab-bench-{uuid.uuid4().hex[:6]}.json")
    path.write_text(json.dumps(data))
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        port = int(server.stdout.readline())
        api = docker.APIClient(base_url=f"tcp://127.0.0.1:{port}", version="1.41")
        counted = docker.APIClient(base_url=f"tcp://127.0.0.1:{port}", version="1.41")
        r = measure(SwarmSource(api=api), rounds,
                    lambda: int(counted._result(counted._get(counted._url("/calls")), True)))
        size = sum(len(json.dumps(data[k])) for k in ("nodes", "tasks"))
        r["bytes/refresh"] = size
        report("recorded answers scaled to 40 nodes / 400 live tasks (+100 finished), "
               "over HTTP on 127.0.0.1 (calls counted by the server)", r)
    finally:
        server.terminate()
        server.wait()
        path.unlink()


def real(n_nodes: int, n_tasks: int, rounds: int) -> None:
    import swarmlab as sl

    lab = sl.Lab(f"bench-{uuid.uuid4().hex[:6]}", provider="dind", progress=False)
    try:
        t0 = time.perf_counter()
        workers = [f"worker{i}" for i in range(1, n_nodes)]
        lab.machine.create("manager1", *workers, timeout=300)
        lab.swarm.init("manager1")
        if workers:
            lab.swarm.join(*workers, timeout=300)
        lab.image.load("swarmlab/web:1")
        per = n_tasks // 4
        for s in range(4):
            lab.service.create(f"web{s}", "swarmlab/web:1", replicas=per, timeout=600)
        print(f"\nreal swarm: {n_nodes} nodes, {4 * per} tasks ready in "
              f"{time.perf_counter() - t0:.0f}s")
        source = SwarmSource(lab)
        r = measure(source, rounds, lambda: source.calls)
        report(f"real DinD swarm of {n_nodes} nodes / {4 * per} tasks on the local engine "
               "(calls counted by the client)", r)
    finally:
        print(lab.destroy())


def existing(name: str, rounds: int) -> None:
    import swarmlab as sl

    lab = sl.Lab.attach(name, progress=False)
    source = SwarmSource(lab)
    r = measure(source, rounds, lambda: source.calls)
    report(f"lab {name!r} as it is: {r['nodes']} nodes / {r['live tasks']} live tasks "
           "(calls counted by the client)", r)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--recorded-only", action="store_true")
    ap.add_argument("--lab", help="measure this existing lab instead of making one")
    a = ap.parse_args()
    recorded(a.rounds)
    if a.lab:
        existing(a.lab, a.rounds)
    elif not a.recorded_only:
        real(a.nodes, a.tasks, a.rounds)


if __name__ == "__main__":
    main()
