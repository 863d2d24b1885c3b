"""Which Docker a node image's machines run, as `swarmlab doctor` and lesson 00 say it: read
from the image's own description, and nothing but a version taken from it."""

from __future__ import annotations

import pytest

from swarmlab.lessons.setup import node_docker_version


@pytest.mark.parametrize(("config", "said"), [
    ({"Labels": {"io.swarmlab.docker-version": "28.5.2"}}, "28.5.2"),
    ({"Labels": {"io.swarmlab.docker-version": "20.10.24"}, "Env": ["DOCKER_VERSION=29.1.0"]}, "20.10.24"),
    # docker:dind says it in its environment
    ({"Labels": None, "Env": ["PATH=/usr/bin", "DOCKER_VERSION=29.1.3"]}, "29.1.3"),
    ({"Env": ["DOCKER_VERSION=29.0.0-rc.1"]}, "29.0.0-rc.1"),
    # an image that says nothing, or something that is not a version
    ({}, ""),
    ({"Labels": {"io.swarmlab.docker-version": "28.5.2; rm -rf ~"}}, ""),
    ({"Labels": {"io.swarmlab.docker-version": "\x1b[31mred"}}, ""),
    ({"Env": ["DOCKER_VERSION=" + "9" * 5000]}, ""),
    ({"Env": ["DOCKER_VERSION=1." + "9" * 100]}, ""),
    ({"Labels": {"io.swarmlab.docker-version": 28}}, ""),
    ({"Env": [None, 3, "DOCKER_VERSION"]}, ""),
])
def test_the_version_an_image_says_and_nothing_else(config: dict, said: str) -> None:
    assert node_docker_version({"Config": config}) == said


def test_an_image_without_a_config_says_no_version() -> None:
    assert node_docker_version({}) == "" and node_docker_version({"Config": None}) == ""
