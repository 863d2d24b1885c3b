"""Run the classic lab on REAL machines, for a teacher to verify a provider the CI cannot run:

    .venv/bin/python tests/providers/check_real_host.py virtualbox
    .venv/bin/python tests/providers/check_real_host.py ssh lab-hosts.yaml

Creates (or adopts) manager1, worker1, worker2; runs init, join, service create/scale/update,
drain/activate and ssh, each checked through the machines' engines; then destroys the lab.
Needs a local Docker engine with the offline images (scripts/build-images) to load into them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tutorial import MACHINES, run_tutorial  # noqa: E402

import swarmlab as sl  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("virtualbox", "ssh") or (argv[0] == "ssh" and len(argv) < 2):
        print(__doc__)
        return 2
    options = {"hosts": argv[1]} if argv[0] == "ssh" else {}
    start = time.monotonic()
    with sl.Lab("realcheck", provider=argv[0], **options) as lab:
        print(lab.machine.create(*MACHINES))
        run_tutorial(lab)
    print(f"OK: the classic lab ran on {argv[0]} machines in {time.monotonic() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
