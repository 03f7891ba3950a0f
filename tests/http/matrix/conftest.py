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


@pytest.fixture(scope="session")
def offline_tiktoken(tmp_path_factory):
    """tiktoken with the rank files the build took from the npm package (hash-checked), never a
    download: what LangChain counts tokens with."""
    tiktoken_dir = os.environ.get("OUTRIGGER_TIKTOKEN_DIR", "")
    if not tiktoken_dir:
        pytest.skip("OUTRIGGER_TIKTOKEN_DIR is needed")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tokens"))
    from identity_test import offline_tiktoken as load  # noqa: E402
    return load(tiktoken_dir, str(tmp_path_factory.mktemp("tiktoken")))
