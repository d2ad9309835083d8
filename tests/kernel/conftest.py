"""Fixtures that several test modules of tests/kernel share."""

import logging

import pytest


@pytest.fixture
def lifecycle_logs(caplog):
    """Capture what atoll.lifecycle logs from DEBUG up, for tests that read it from ``caplog``."""
    caplog.set_level(logging.DEBUG, logger="atoll.lifecycle")
