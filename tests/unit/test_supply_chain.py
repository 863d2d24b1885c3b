"""What the project builds from and runs with: signed packages, a least-privilege workflow."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_node_image_is_built_from_signed_packages_only() -> None:
    script = (ROOT / "scripts" / "build-images").read_text()
    call = re.search(r"debootstrap --variant=minbase[^\n]*", script)
    assert call, "build-images runs debootstrap"
    assert "--force-check-gpg" in call.group(0) and "--keyring=" in call.group(0)
    assert "debian-archive-keyring" in (ROOT / "scripts" / "setup").read_text()


def test_the_workflow_reads_only_and_keeps_no_credentials() -> None:
    for wf in (ROOT / ".github" / "workflows").glob("*.yml"):
        doc = yaml.safe_load(wf.read_text())
        assert doc.get("permissions") == {"contents": "read"}, wf.name
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout"):
                    assert step.get("with", {}).get("persist-credentials") is False, wf.name
