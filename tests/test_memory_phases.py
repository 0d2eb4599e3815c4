"""Peak RSS per phase (tools/memory_phases.py), measured on this process by the kernel."""

import pytest

from tunepilot.tools.memory_phases import PhaseMemory, _status_mb

pytestmark = pytest.mark.skipif(_status_mb() is None, reason="needs /proc/self/status (Linux)")


def _touch(mb: int) -> bytearray:
    block = bytearray(mb << 20)
    for i in range(0, len(block), 4096):  # resident, not only reserved
        block[i] = 1
    return block


def test_each_phase_books_its_own_peak():
    mem = PhaseMemory()
    mem.mark("before")
    block = _touch(300)
    del block
    mem.mark("big allocation, freed")
    small = _touch(20)
    mem.mark("small allocation")
    phases = mem.summary()["phases"]
    big = phases["big allocation, freed"]["peak_mb"]
    assert big >= phases["before"]["rss_mb"] + 290  # the freed 300 MB still counts as that phase's peak
    assert mem.peak_mb() >= big
    if mem.resets:  # the kernel let the mark be reset: the next phase starts from what is resident
        assert phases["small allocation"]["peak_mb"] < big - 200
        assert mem.summary()["per_phase"] is True
    del small


def test_repeated_phases_keep_the_largest_peak_and_count():
    mem = PhaseMemory()
    for mb in (50, 250, 50):
        block = _touch(mb)
        del block
        mem.mark("step")
    row = mem.summary()["phases"]["step"]
    assert row["count"] == 3
    assert row["peak_mb"] >= row["rss_mb"] + 240  # the 250 MB step, not the last one
