"""The client matrix's fixtures: one upstream and one daemon for the whole run, the upstream's log
emptied before each test."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from upstream_daemon import running_rig  # noqa: E402


@pytest.fixture(scope="session")
def rig():
    yield from running_rig()


@pytest.fixture
def daemon(rig):
    return rig[0]


@pytest.fixture
def upstream(rig):
    """The upstream with an empty log and no scripted steps."""
    rig[1].reset()
    return rig[1]
