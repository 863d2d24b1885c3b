"""What a lab takes as its registry mirror, and how image names become registry paths (no
engine: the mirror itself runs in tests/integration/test_mirror.py)."""

from __future__ import annotations

import pytest

import swarmlab as sl
from swarmlab.providers.dind.mirror import MIRROR_URL, MirrorStatus, _repo_tag, check_url, is_local, lab_mirror


@pytest.mark.parametrize("url, kept", [
    ("http://swarmlab-mirror:5000", "http://swarmlab-mirror:5000"),
    ("http://swarmlab-mirror:5000/", "http://swarmlab-mirror:5000"),
    ("https://registry-1.docker.io", "https://registry-1.docker.io"),
    ("http://10.0.0.5:5000", "http://10.0.0.5:5000"),
    ("HTTP://Mirror.Example:443", "http://mirror.example:443"),
])
def test_a_mirror_url_is_scheme_host_and_port(url: str, kept: str) -> None:
    assert check_url(url).lower() == kept


@pytest.mark.parametrize("url", [
    "", "swarmlab-mirror:5000", "ftp://mirror", "http://user@mirror", "http://user:pw@mirror:5000",
    "http://mirror:5000/v2", "http://mirror:5000?x=1", "http://mirror:5000#x", "http://mirror:0",
    "http://mirror:65536", "http://mirror:port", "http://mir ror", "http://-mirror", "http://[::1]:5000",
    "http://mirror;rm -rf /", "http://" + "a" * 300, None, 5000,
])
def test_anything_else_is_refused_with_what_to_give(url: object) -> None:
    with pytest.raises(sl.InvalidArgument, match=r"give (http:// or https://|a URL)"):
        check_url(url)


def test_a_lab_uses_a_mirror_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARMLAB_REGISTRY_MIRROR", raising=False)
    assert lab_mirror(None) == ""
    assert lab_mirror(MIRROR_URL) == MIRROR_URL
    monkeypatch.setenv("SWARMLAB_REGISTRY_MIRROR", MIRROR_URL)
    assert lab_mirror(None) == MIRROR_URL
    assert lab_mirror("off") == ""  # the lab's own word wins over the environment
    monkeypatch.setenv("SWARMLAB_REGISTRY_MIRROR", "off")
    assert lab_mirror(None) == ""
    monkeypatch.setenv("SWARMLAB_REGISTRY_MIRROR", "mirror:5000")
    with pytest.raises(sl.InvalidArgument, match=r"\(SWARMLAB_REGISTRY_MIRROR\)"):
        lab_mirror(None)
    assert is_local(MIRROR_URL) and not is_local("http://10.0.0.5:5000") and not is_local("")


@pytest.mark.parametrize("image, path", [
    ("alpine", ("library/alpine", "latest")),
    ("redis:7.2", ("library/redis", "7.2")),
    ("bitnami/redis:7", ("bitnami/redis", "7")),
    ("docker.io/library/alpine:3.20", ("library/alpine", "3.20")),
    ("localhost:5000/team/app", ("team/app", "latest")),
    ("alpine@sha256:" + "a" * 64, ("library/alpine", "sha256:" + "a" * 64)),
])
def test_an_image_name_is_the_registry_path_the_mirror_is_asked_for(image: str, path: tuple[str, str]) -> None:
    assert _repo_tag(image) == path


def test_status_says_how_labs_use_the_mirror() -> None:
    off = MirrorStatus(False, "swarmlab-mirror.u1000")
    assert off.text() == ("no registry mirror is running (container swarmlab-mirror.u1000): start one with "
                          "'swarmlab mirror up'")
    assert off.as_dict()["machines_url"] == ""
    on = MirrorStatus(True, "swarmlab-mirror.u1000", "https://registry-1.docker.io", "swarmlab/registry:2.8",
                      "http://127.0.0.1:32768", ["swarmlab-tutorial-u1000"], ["library/alpine"])
    assert f"export SWARMLAB_REGISTRY_MIRROR={MIRROR_URL}" in on.text()
    assert on.as_dict()["networks"] == ["swarmlab-tutorial-u1000"]


@pytest.mark.parametrize("image, hub", [("alpine", True), ("redis:7.2", True), ("bitnami/redis", True),
                                        ("docker.io/library/alpine", True), ("ghcr.io/owner/app:1", False),
                                        ("localhost:5000/app", False), ("10.0.0.5:5000/app", False)])
def test_only_docker_hub_images_go_through_a_mirror(image: str, hub: bool) -> None:
    from swarmlab.providers.dind.mirror import from_docker_hub

    assert from_docker_hub(image) is hub
