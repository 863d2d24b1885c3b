"""Which engine swarmlab calls this computer's when ``swarmlab env`` has pointed the shell's
``DOCKER_HOST`` at a machine (``swarmlab._engine.machine_in_env``, ``this_computers_env``):
only what ``env`` set, or a machine socket inside swarmlab's own home, counts as a machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmlab._engine import machine_in_env, this_computers_env

MACHINE = "tcp://127.0.0.1:41234"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWARMLAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_what_swarmlab_env_set_is_a_machine_and_this_computer_is_the_engine_it_replaced(home: Path) -> None:
    env = {"DOCKER_HOST": MACHINE, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs",
           "DOCKER_MACHINE_NAME": "manager1", "SWARMLAB_ENV_HOST": MACHINE,
           "SWARMLAB_OUTER_DOCKER_HOST": "unix:///run/user/1000/docker.sock", "HOME": "/home/x"}
    assert machine_in_env(env) == MACHINE
    assert this_computers_env(env) == {"DOCKER_HOST": "unix:///run/user/1000/docker.sock",
                                       "SWARMLAB_ENV_HOST": MACHINE, "HOME": "/home/x",
                                       "SWARMLAB_OUTER_DOCKER_HOST": "unix:///run/user/1000/docker.sock"}
    # nothing replaced: the default socket (no DOCKER_HOST, no TLS settings)
    bare = this_computers_env({**env, "SWARMLAB_OUTER_DOCKER_HOST": ""})
    assert not {"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} & set(bare)


def test_a_machine_socket_in_swarmlab_s_home_is_a_machine_without_the_marks(home: Path) -> None:
    sock = f"unix://{home}/labs/dind/tutorial/manager1/docker.sock"
    assert machine_in_env({"DOCKER_HOST": sock}) == sock
    assert "DOCKER_HOST" not in this_computers_env({"DOCKER_HOST": sock})


@pytest.mark.parametrize("host", [
    "unix:///var/run/docker.sock",                    # this computer's engine
    "unix:///run/user/1000/docker.sock",              # a rootless engine
    "tcp://127.0.0.1:2376",                           # a TLS engine on loopback, not marked by env
    "unix://{home}/labs/../../elsewhere/docker.sock",  # out of the home by '..'
    "unix://{home}-other/labs/dind/t/m/docker.sock",  # a folder that only starts like the home
])
def test_any_other_engine_is_this_computers_own(home: Path, host: str) -> None:
    env = {"DOCKER_HOST": host.format(home=home), "DOCKER_TLS_VERIFY": "1"}
    assert machine_in_env(env) == ""
    assert this_computers_env(env) == env


def test_a_marked_outer_host_that_is_itself_a_machine_is_not_followed(home: Path) -> None:
    sock = f"unix://{home}/labs/dind/t/worker1/docker.sock"
    env = {"DOCKER_HOST": MACHINE, "SWARMLAB_ENV_HOST": MACHINE, "SWARMLAB_OUTER_DOCKER_HOST": sock}
    assert "DOCKER_HOST" not in this_computers_env(env)
