"""The in-memory database passes the database contract."""

import pytest

from atoll.testing.database_contract import DatabaseContract


class TestMemoryDatabase(DatabaseContract):
    @pytest.fixture
    def database_url(self):
        return "memory://"
