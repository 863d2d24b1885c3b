"""The neighbour-table arithmetic behind a big lab's limit (swarmlab/providers/dind/neighbours.py),
on this computer's real /proc/sys and on folders made here."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

import swarmlab as sl
from swarmlab.providers.dind import neighbours


def test_a_lab_needs_an_entry_per_pair_of_its_machines_and_labs_add_up() -> None:
    assert neighbours.needed([3]) == 6
    assert neighbours.needed([100]) == 9900
    assert neighbours.needed([50, 3, 3]) == 50 * 49 + 12
    assert neighbours.largest_lab(1024) == 45  # 45*44 = 1980 <= 2*1024 < 46*45
    assert neighbours.largest_lab(32768) == 256


def test_the_settings_it_advises_hold_the_lab_with_room_to_spare() -> None:
    s = neighbours.settings_for(9900)
    assert s == {"gc_thresh1": 4096, "gc_thresh2": 16384, "gc_thresh3": 32768}
    assert s["gc_thresh1"] < s["gc_thresh2"] < s["gc_thresh3"]
    # what setup sets for 100 machines is what the advice for 100 machines says
    setup = (Path(__file__).resolve().parents[2] / "scripts" / "setup").read_text()
    for key, value in s.items():
        assert f"net.ipv4.neigh.default.{key}={value}" in setup


def test_the_limit_is_read_from_the_kernel_and_garbage_is_not_a_limit(tmp_path: Path) -> None:
    (tmp_path / "gc_thresh3").write_text("2048\n")
    assert neighbours.read_limit(tmp_path) == 2048
    (tmp_path / "gc_thresh3").write_text("lots; rm -rf /\n")
    assert neighbours.read_limit(tmp_path) is None
    assert neighbours.read_limit(tmp_path / "missing") is None
    real = Path("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
    if real.exists():  # the host's namespace: the value the kernel uses
        assert neighbours.read_limit() == int(real.read_text())


def test_too_big_a_lab_is_refused_with_the_command_that_makes_room() -> None:
    with pytest.raises(sl.HostLimit, match=r"a lab of 50 machines beside the 6 machines of the other "
                                           r"labs here needs about 2462 entries.*allows 1024") as caught:
        neighbours.check(50, [3, 3], platform.release(), limit=1024)
    assert isinstance(caught.value, sl.ProviderUnavailable)
    assert "sudo sysctl -w net.ipv4.neigh.default.gc_thresh1=1024 net.ipv4.neigh.default.gc_thresh2=4096 " \
           "net.ipv4.neigh.default.gc_thresh3=8192" in str(caught.value)
    neighbours.check(45, [], platform.release(), limit=1024)  # fits: nothing raised
    neighbours.check(40, [3] * 20, platform.release(), limit=1024)


def test_an_engine_on_another_kernel_is_not_judged_by_this_one() -> None:
    assert not neighbours.same_kernel("5.15.49-linuxkit")
    assert not neighbours.same_kernel(None)
    assert neighbours.same_kernel(platform.release())
    neighbours.check(500, [], "5.15.49-linuxkit")  # Docker Desktop's VM: nothing to read here
