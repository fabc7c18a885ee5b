"""Fixtures shared by the system tests that run the nodes over DDS."""

import pytest
from runespoor_cloud.testing import free_domain_id, Probe


@pytest.fixture
def domain():
    """Return a ROS domain id no other test run is using."""
    return free_domain_id()


@pytest.fixture
def probe(domain):
    """Yield an in-process test node on ``domain``; destroyed afterwards."""
    p = Probe(domain)
    yield p
    p.close()
