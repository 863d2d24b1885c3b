"""Record a real swarm's answers to GET /nodes, /tasks and /services, for the views' unit tests
and the dashboard benchmark.

    .venv/bin/python benchmarks/record_answers.py [tests/views/data/swarm_answers.json]

Makes a 3-machine DinD lab, runs two services (one rolled from web:1 to web:2, so there is task
history), saves what the manager answers, and destroys the lab.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import swarmlab as sl  # noqa: E402

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else
           Path(__file__).parent.parent / "tests" / "views" / "data" / "swarm_answers.json")


def slim_node(n: dict) -> dict:
    n = json.loads(json.dumps(n))
    n.get("Description", {}).pop("TLSInfo", None)
    n.get("Description", {}).get("Engine", {}).pop("Plugins", None)
    return n


def main() -> None:
    lab = sl.Lab(f"rec-{uuid.uuid4().hex[:6]}", provider="dind", progress=False)
    try:
        lab.machine.create("manager1", "worker1", "worker2")
        lab.swarm.init("manager1")
        lab.swarm.join("worker1", "worker2")
        lab.image.load("swarmlab/busybox:latest", "swarmlab/web:1", "swarmlab/web:2")
        lab.service.create("web", "swarmlab/web:1", replicas=4, update_delay="1s")
        lab.service.create("helloworld", "swarmlab/busybox:latest", "sleep", "100000", replicas=2)
        lab.service.update("web", image="swarmlab/web:2")
        lab.service.scale(helloworld=1)
        api = lab.manager_client().api
        data = {
            "nodes": [slim_node(n) for n in api.nodes()],
            "tasks": api.tasks(),
            "names": {s["ID"]: s["Spec"]["Name"] for s in api.services()},
        }
    finally:
        lab.destroy()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(data['nodes'])} nodes, {len(data['tasks'])} tasks into {OUT}")


if __name__ == "__main__":
    main()
