"""``--health-*`` options as the engine's Healthcheck and the CLI's flags, and a clear error
for each bad one."""

from __future__ import annotations

import pytest

import swarmlab as sl
from swarmlab.commands.service_parts import Health


def test_health_options_become_the_engines_healthcheck_and_the_clis_flags() -> None:
    health = Health.of("wget -qO- http://127.0.0.1/", "2s", 1.5, 3, "10s", False)
    assert health.engine() == {"Test": ["CMD-SHELL", "wget -qO- http://127.0.0.1/"], "Interval": 2_000_000_000,
                      "Timeout": 1_500_000_000, "StartPeriod": 10_000_000_000, "Retries": 3}
    assert health.flags() == ["--health-cmd 'wget -qO- http://127.0.0.1/'", "--health-interval 2s",
                     "--health-timeout 1.5s", "--health-start-period 10s", "--health-retries 3"]
    assert Health.of(None, None, None, None, None, False) == Health()
    assert (Health().engine(), Health().flags()) == (None, [])
    off = Health.of(None, None, None, None, None, True)
    assert (off.engine(), off.flags()) == ({"Test": ["NONE"]}, ["--no-healthcheck"])


@pytest.mark.parametrize(("args", "match"), [
    (("", None, None, None, None, False), r"health_cmd='': give the shell command"),
    (("true", "soon", None, None, None, False), r"health_interval='soon': give a duration"),
    (("true", None, None, 0, None, False), r"health_retries=0: give a whole number of 1 or more"),
    (("true", None, None, None, None, True), r"no_healthcheck=True turns the image's health check off"),
    ((None, None, None, None, None, "yes"), r"no_healthcheck='yes': give True or False"),
])
def test_a_bad_health_option_says_what_to_give(args: tuple, match: str) -> None:
    with pytest.raises(sl.InvalidArgument, match=match):
        Health.of(*args)
