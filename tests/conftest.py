"""Fixtures shared by the unit tests, and the suite's network guard (tests/netguard.py)."""
import pytest
import torch

import netguard

netguard.install()      # before any test runs: nothing in the suite reaches the network


@pytest.fixture(autouse=True)
def no_network():
    """Fail the test that tried to reach the network (the attempt itself was refused)."""
    netguard.ATTEMPTS.clear()
    yield
    tried = list(netguard.ATTEMPTS)
    netguard.ATTEMPTS.clear()
    assert not tried, f"the test tried to reach the network: {tried}"


@pytest.fixture
def one_thread():
    """One intra-op thread for model-heavy tests: on a shared 2-core machine two can be 5-10x slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
