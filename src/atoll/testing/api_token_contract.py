"""The API token store contract: what every :class:`ApiTokenStore` must do, as pytest tests.

Subclass :class:`ApiTokenStoreContract` in a test module and give it a ``store`` fixture;
every test of the contract then runs against that store::

    class TestMemory(ApiTokenStoreContract):
        @pytest.fixture
        def store(self) -> ApiTokenStore:
            return MemoryApiTokenStore()

The in-memory store and the SQL one (SQLite and PostgreSQL) run this same suite.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from atoll.errors import AlreadyExistsError, InvalidTokenError
from atoll.security.api_tokens import (
    EXPIRED,
    REVOKED,
    UNKNOWN,
    ApiTokenRecord,
    ApiTokens,
    api_token_digest,
    new_api_token,
)

if TYPE_CHECKING:
    from atoll.security.api_tokens import ApiTokenStore

__all__ = ["ApiTokenStoreContract"]

T0 = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def record(
    token: str,
    token_id: str = "t1",  # noqa: S107 - an id, not a password
    **changes: object,
) -> ApiTokenRecord:
    """A record of ``token``, created at ``T0``; ``changes`` set its other fields."""
    fields: dict[str, object] = {
        "id": token_id,
        "digest": api_token_digest(token),
        "subject": "user-1",
        "scopes": ("runs:read", "runs:write"),
        "label": "nightly export",
        "created": T0,
        **changes,
    }
    return ApiTokenRecord(**fields)  # type: ignore[arg-type]


class ApiTokenStoreContract:
    """The behaviours every API token store has; subclasses provide the ``store`` fixture."""

    async def test_a_record_kept_is_found_by_its_digest_with_every_field(
        self, store: ApiTokenStore
    ) -> None:
        token = new_api_token()
        kept = record(token, kind="service", expires=T0 + dt.timedelta(days=30))
        await store.create(kept)
        assert await store.find(api_token_digest(token)) == kept

    async def test_an_unknown_digest_is_found_as_none(self, store: ApiTokenStore) -> None:
        await store.create(record(new_api_token()))
        assert await store.find(api_token_digest(new_api_token())) is None

    async def test_the_list_holds_every_record_oldest_first(self, store: ApiTokenStore) -> None:
        later = record(new_api_token(), "b", created=T0 + dt.timedelta(seconds=1))
        first = record(new_api_token(), "a")
        await store.create(later)
        await store.create(first)
        assert [kept.id for kept in await store.list()] == ["a", "b"]

    async def test_revoking_marks_the_record_and_a_second_time_keeps_the_first(
        self, store: ApiTokenStore
    ) -> None:
        token = new_api_token()
        await store.create(record(token))
        at = T0 + dt.timedelta(hours=1)
        revoked = await store.revoke("t1", at)
        assert revoked is not None
        assert revoked.revoked == at
        again = await store.revoke("t1", at + dt.timedelta(hours=1))
        assert again is not None
        assert again.revoked == at
        found = await store.find(api_token_digest(token))
        assert found is not None
        assert found.revoked == at

    async def test_revoking_an_unknown_id_is_none_and_changes_nothing(
        self, store: ApiTokenStore
    ) -> None:
        await store.create(record(new_api_token()))
        assert await store.revoke("nobody", T0) is None
        assert [kept.revoked for kept in await store.list()] == [None]

    async def test_a_second_record_with_the_same_id_is_refused(self, store: ApiTokenStore) -> None:
        await store.create(record(new_api_token()))
        with pytest.raises(AlreadyExistsError):
            await store.create(record(new_api_token()))

    async def test_tokens_issued_through_it_verify_until_revoked(
        self, store: ApiTokenStore
    ) -> None:
        tokens = ApiTokens(store, cache=0)
        token, issued = await tokens.issue("user-7", ["b", "a"], label="ci")
        identity = await tokens.verify(token)
        assert (identity.subject, identity.scopes, identity.token_id, identity.scheme) == (
            "user-7",
            frozenset({"a", "b"}),
            issued.id,
            "api-token",
        )
        await tokens.revoke(issued.id)
        with pytest.raises(InvalidTokenError, match=REVOKED):
            await tokens.verify(token)
        with pytest.raises(InvalidTokenError, match=UNKNOWN):
            await tokens.verify(new_api_token())

    async def test_an_expired_token_is_refused(self, store: ApiTokenStore) -> None:
        moments = iter([T0, T0 + dt.timedelta(hours=2)])
        tokens = ApiTokens(store, cache=0, now=lambda: next(moments))
        token, _ = await tokens.issue("user-7", expires_in=dt.timedelta(hours=1))
        with pytest.raises(InvalidTokenError, match=EXPIRED):
            await tokens.verify(token)
