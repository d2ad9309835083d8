"""Users' sessions: the session grant, refresh token rotation and reuse, and revocation."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import pytest

from atoll.auth import TokenOptions
from atoll.auth.clients import Registrations
from atoll.auth.issuer import SESSION_GRANT
from atoll.auth.sessions import Sessions, token_id
from atoll.auth.tables import AuthUnitOfWork
from atoll.errors import ConflictError
from atoll.security.identity import identity_of_claims
from tests.auth.conftest import ISSUER, add_client, basic, running, verifier_for

SESSION = {"grant_type": SESSION_GRANT, "subject": "alice"}
SCOPES = ("runs:read", "runs:write")
AUDIENCES = ("users", "runs")
SESSION_CLIENTS = ("--tokens-session-clients", "users")


async def _users(harness) -> dict[str, str]:
    """Register the session client ``users``; its Basic credentials."""
    secret = await add_client(harness, "users", scopes=SCOPES, audiences=AUDIENCES)
    return basic("users", secret)


async def _open(harness, auth, **form):
    return await harness.client.post("/oauth/token", data={**SESSION, **form}, headers=auth)


async def _refresh(harness, auth, refresh_token, **form):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **form}
    return await harness.client.post("/oauth/token", data=data, headers=auth)


async def _revoke(harness, auth, token, **form):
    return await harness.client.post("/oauth/revoke", data={"token": token, **form}, headers=auth)


async def _claims(harness, clock, response, audience="runs"):
    verifier = await verifier_for(harness, clock, audience=audience)
    return await verifier.verify(response.json()["access_token"])


@pytest.fixture(params=["memory", "sqlite"])
def database(request, tmp_path) -> list[str]:
    """The flags of the token service's database: memory://, or a SQLite file."""
    if request.param == "memory":
        return []
    return ["--db-url", f"sqlite+aiosqlite:///{tmp_path}/auth.db"]


# -- the session grant ----------------------------------------------------------------------


async def test_the_session_grant_gives_a_users_access_token_and_a_refresh_token(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        response = await _open(harness, await _users(harness))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
        answer = response.json()
        assert set(answer) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
        assert answer["token_type"] == "Bearer"  # noqa: S105 - a token type, no password
        assert answer["expires_in"] == 300
        assert answer["scope"] == "runs:read runs:write"
        assert answer["refresh_token"].startswith("atr_")
        assert len(answer["refresh_token"]) == 4 + 43
        claims = await _claims(harness, clock, response)
        assert claims["iss"] == ISSUER
        assert claims["sub"] == "alice"
        assert claims["client_id"] == "users"
        assert claims["aud"] == ["users", "runs"]  # every audience of the client, by default
        assert claims["scope"] == "runs:read runs:write"
        assert claims["exp"] - claims["iat"] == 300
        assert len(claims["sid"]) == 32
        identity = identity_of_claims(claims)
        assert identity.kind == "user"
        assert identity.subject == "alice"


async def test_each_session_has_its_own_id(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        first = await _claims(harness, clock, await _open(harness, auth))
        second = await _claims(harness, clock, await _open(harness, auth))
        assert first["sid"] != second["sid"]


async def test_a_client_not_among_the_session_clients_is_an_unauthorized_client(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        secret = await add_client(harness, "runs-worker", audiences=AUDIENCES)
        response = await _open(harness, basic("runs-worker", secret))
        assert response.status_code == 400
        assert response.json()["error"] == "unauthorized_client"


async def test_the_session_grant_needs_the_client_authenticated(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        await _users(harness)
        response = await _open(harness, basic("users", "not-its-secret"))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("subject", [None, "", "al ice", "alicé", "a" * 201, "tab\there"], ids=repr)
async def test_a_missing_or_malformed_subject_is_invalid_request(clock, subject):
    async with running(clock, *SESSION_CLIENTS) as harness:
        form = {"grant_type": SESSION_GRANT}
        if subject is not None:
            form["subject"] = subject
        response = await harness.client.post(
            "/oauth/token", data=form, headers=await _users(harness)
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert "subject" in response.json()["error_description"]


async def test_a_subject_of_200_printable_characters_is_accepted(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        subject = "user:" + "~" * 195
        response = await _open(harness, await _users(harness), subject=subject)
        assert response.status_code == 200
        assert (await _claims(harness, clock, response))["sub"] == subject


async def test_the_clients_own_id_as_subject_is_invalid_request(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        response = await _open(harness, await _users(harness), subject="users")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


async def test_a_session_may_have_some_of_the_clients_scopes(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        response = await _open(harness, await _users(harness), scope="runs:read")
        assert response.json()["scope"] == "runs:read"
        assert (await _claims(harness, clock, response))["scope"] == "runs:read"


async def test_a_scope_the_client_lacks_is_invalid_scope(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        response = await _open(harness, await _users(harness), scope="runs:read runs:admin")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"


async def test_a_session_may_be_for_some_of_the_clients_audiences(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        response = await _open(harness, await _users(harness), resource="runs")
        assert (await _claims(harness, clock, response))["aud"] == "runs"


async def test_an_audience_the_client_lacks_is_invalid_target(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        response = await _open(harness, await _users(harness), audience="stats")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_target"


# -- refresh --------------------------------------------------------------------------------


async def test_a_refresh_gives_new_tokens_of_the_same_session(clock, database):
    async with running(clock, *SESSION_CLIENTS, *database) as harness:
        auth = await _users(harness)
        opened = await _open(harness, auth)
        clock.advance(60)
        refreshed = await _refresh(harness, auth, opened.json()["refresh_token"])
        assert refreshed.status_code == 200
        assert refreshed.headers["cache-control"] == "no-store"
        answer = refreshed.json()
        assert set(answer) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
        assert answer["refresh_token"] != opened.json()["refresh_token"]
        assert answer["access_token"] != opened.json()["access_token"]
        before = await _claims(harness, clock, opened)
        after = await _claims(harness, clock, refreshed)
        assert after["sub"] == "alice"
        assert after["client_id"] == "users"
        assert after["sid"] == before["sid"]
        assert after["aud"] == ["users", "runs"]
        assert after["iat"] == before["iat"] + 60


async def test_a_refresh_token_used_twice_revokes_its_session(clock, database, caplog):
    async with running(clock, *SESSION_CLIENTS, *database) as harness:
        auth = await _users(harness)
        opened = await _open(harness, auth)
        first = opened.json()["refresh_token"]
        second = (await _refresh(harness, auth, first)).json()["refresh_token"]
        with caplog.at_level(logging.WARNING, logger="atoll.auth"):
            reused = await _refresh(harness, auth, first)
        assert reused.status_code == 400
        assert reused.json()["error"] == "invalid_grant"
        after_reuse = await _refresh(harness, auth, second)  # the successor: revoked with it
        assert after_reuse.json() == reused.json()
        sid = (await _claims(harness, clock, opened))["sid"]
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert sid in warning.getMessage()
    assert "alice" in warning.getMessage()
    assert "users" in warning.getMessage()


async def test_a_reuse_leaves_the_users_other_sessions_alone(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        mine = (await _open(harness, auth)).json()["refresh_token"]
        other = (await _open(harness, auth)).json()["refresh_token"]
        await _refresh(harness, auth, mine)
        await _refresh(harness, auth, mine)
        assert (await _refresh(harness, auth, other)).status_code == 200


async def test_a_refresh_may_narrow_the_scope_and_the_audience(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        narrowed = await _refresh(harness, auth, refresh_token, scope="runs:read", resource="runs")
        assert narrowed.json()["scope"] == "runs:read"
        claims = await _claims(harness, clock, narrowed)
        assert (claims["aud"], claims["scope"]) == ("runs", "runs:read")
        # The session keeps what it was granted (RFC 6749 6): the next refresh has it all.
        whole = await _refresh(harness, auth, narrowed.json()["refresh_token"])
        assert whole.json()["scope"] == "runs:read runs:write"
        assert (await _claims(harness, clock, whole))["aud"] == ["users", "runs"]


@pytest.mark.parametrize(
    ("beyond", "error"),
    [({"scope": "runs:write"}, "invalid_scope"), ({"resource": "users"}, "invalid_target")],
)
async def test_a_refresh_beyond_the_session_is_refused_and_uses_up_nothing(clock, beyond, error):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        opened = await _open(harness, auth, scope="runs:read", resource="runs")
        refresh_token = opened.json()["refresh_token"]
        refused = await _refresh(harness, auth, refresh_token, **beyond)
        assert refused.status_code == 400
        assert refused.json()["error"] == error
        assert (await _refresh(harness, auth, refresh_token)).status_code == 200


async def test_a_refresh_without_a_refresh_token_is_invalid_request(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        response = await harness.client.post(
            "/oauth/token", data={"grant_type": "refresh_token"}, headers=await _users(harness)
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


async def test_a_refresh_by_a_client_not_among_the_session_clients_is_unauthorized(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        refresh_token = (await _open(harness, await _users(harness))).json()["refresh_token"]
        secret = await add_client(harness, "runs-worker", audiences=AUDIENCES)
        response = await _refresh(harness, basic("runs-worker", secret), refresh_token)
        assert response.status_code == 400
        assert response.json()["error"] == "unauthorized_client"


async def test_a_refresh_token_is_accepted_until_the_refresh_lifetime_ends(clock):
    lifetimes = ("--tokens-refresh-lifetime", "100", "--tokens-session-lifetime", "1000")
    async with running(clock, *SESSION_CLIENTS, *lifetimes) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        clock.advance(99)
        assert (await _refresh(harness, auth, refresh_token)).status_code == 200


async def test_a_refresh_token_expires_with_the_refresh_lifetime(clock):
    lifetimes = ("--tokens-refresh-lifetime", "100", "--tokens-session-lifetime", "1000")
    async with running(clock, *SESSION_CLIENTS, *lifetimes) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        clock.advance(100)
        response = await _refresh(harness, auth, refresh_token)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"


async def test_no_refresh_token_outlives_its_session(clock):
    lifetimes = ("--tokens-refresh-lifetime", "100", "--tokens-session-lifetime", "250")
    async with running(clock, *SESSION_CLIENTS, *lifetimes) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        for _ in range(2):  # at 90 and 180: the second token would live until 280
            clock.advance(90)
            refreshed = await _refresh(harness, auth, refresh_token)
            assert refreshed.status_code == 200
            refresh_token = refreshed.json()["refresh_token"]
        clock.advance(70)  # 250: the session's end
        response = await _refresh(harness, auth, refresh_token)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"


async def test_another_clients_refresh_token_is_refused_as_an_unknown_one(clock):
    clients = ("--tokens-session-clients", "users,portal")
    async with running(clock, *clients) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        portal = basic("portal", await add_client(harness, "portal", audiences=AUDIENCES))
        stolen = await _refresh(harness, portal, refresh_token)
        unknown = await _refresh(harness, portal, "atr_" + "x" * 43)
        assert stolen.status_code == unknown.status_code == 400
        assert stolen.json()["error"] == "invalid_grant"
        assert stolen.content == unknown.content
        assert (await _refresh(harness, auth, refresh_token)).status_code == 200


async def test_two_refreshes_with_one_token_at_once_give_tokens_once_and_end_the_session(
    clock, database
):
    async with running(clock, *SESSION_CLIENTS, *database) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        answers = await asyncio.gather(
            _refresh(harness, auth, refresh_token), _refresh(harness, auth, refresh_token)
        )
        assert sorted(answer.status_code for answer in answers) == [200, 400]
        (won,) = [answer for answer in answers if answer.status_code == 200]
        (lost,) = [answer for answer in answers if answer.status_code == 400]
        assert lost.json()["error"] == "invalid_grant"
        after = await _refresh(harness, auth, won.json()["refresh_token"])
        assert after.json()["error"] == "invalid_grant"


async def test_a_client_removed_and_added_again_has_no_session_of_the_old_one(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        refresh_token = (await _open(harness, await _users(harness))).json()["refresh_token"]
        registrations = await harness.container.aget(Registrations)
        assert await registrations.remove("users")
        again = await _users(harness)
        response = await _refresh(harness, again, refresh_token)
        assert response.json()["error"] == "invalid_grant"


class _CommitsTogether:
    """A database whose first two transactions commit only once both are committing.

    So two refreshes with one token both read it unused before either writes: one commit
    wins, the other meets a conflict, which is the path a real race takes.
    """

    def __init__(self, database) -> None:
        self._database = database
        self._barrier = asyncio.Barrier(2)
        self._held = 0

    def __getattr__(self, name):
        return getattr(self._database, name)

    async def begin(self):
        transaction = await self._database.begin()
        self._held += 1
        return _HeldTransaction(transaction, self._barrier) if self._held <= 2 else transaction


class _HeldTransaction:
    def __init__(self, transaction, barrier: asyncio.Barrier) -> None:
        self._transaction = transaction
        self._barrier = barrier

    def __getattr__(self, name):
        return getattr(self._transaction, name)

    async def commit(self, outbox, inbox) -> None:
        await self._barrier.wait()
        await self._transaction.commit(outbox, inbox)


async def test_a_refresh_that_loses_the_race_at_commit_is_reuse(clock, caplog):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        sessions = await harness.container.aget(Sessions)
        sessions.database = _CommitsTogether(sessions.database)
        with caplog.at_level(logging.WARNING, logger="atoll.auth"):
            answers = await asyncio.gather(
                _refresh(harness, auth, refresh_token), _refresh(harness, auth, refresh_token)
            )
        assert sorted(answer.status_code for answer in answers) == [200, 400]
        (won,) = [answer for answer in answers if answer.status_code == 200]
        after = await _refresh(harness, auth, won.json()["refresh_token"])
        assert after.json()["error"] == "invalid_grant"
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "used by a request at once" in warning.getMessage()


class _ConflictingCommits:
    """A database whose next ``conflicts`` commits meet a concurrent change."""

    def __init__(self, database, conflicts: int) -> None:
        self._database = database
        self.conflicts = conflicts

    def __getattr__(self, name):
        return getattr(self._database, name)

    async def begin(self):
        return _ConflictingTransaction(await self._database.begin(), self)


class _ConflictingTransaction:
    def __init__(self, transaction, database: _ConflictingCommits) -> None:
        self._transaction = transaction
        self._database = database

    def __getattr__(self, name):
        return getattr(self._transaction, name)

    async def commit(self, outbox, inbox) -> None:
        if self._database.conflicts > 0:
            self._database.conflicts -= 1
            await self._transaction.rollback()
            raise ConflictError("changed by another unit of work meanwhile")
        await self._transaction.commit(outbox, inbox)


async def test_a_revocation_that_meets_a_concurrent_change_reads_the_session_again(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        sessions = await harness.container.aget(Sessions)
        database = sessions.database
        sessions.database = _ConflictingCommits(database, conflicts=4)
        assert (await _revoke(harness, auth, refresh_token)).status_code == 200
        sessions.database = database
        assert (await _refresh(harness, auth, refresh_token)).json()["error"] == "invalid_grant"


async def test_a_revocation_gives_up_after_five_conflicts_and_says_so(clock, caplog):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        sessions = await harness.container.aget(Sessions)
        sessions.database = _ConflictingCommits(sessions.database, conflicts=5)
        with caplog.at_level(logging.ERROR, logger="atoll.auth"), pytest.raises(ConflictError):
            await sessions.revoke(refresh_token, "users")
    (error,) = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "could not revoke session" in error.getMessage()


# -- revocation -----------------------------------------------------------------------------


async def test_revoking_a_refresh_token_revokes_its_session(clock, database):
    async with running(clock, *SESSION_CLIENTS, *database) as harness:
        auth = await _users(harness)
        first = (await _open(harness, auth)).json()["refresh_token"]
        second = (await _refresh(harness, auth, first)).json()["refresh_token"]
        revoked = await _revoke(harness, auth, first)  # a used one: the session all the same
        assert revoked.status_code == 200
        assert revoked.content == b""
        assert revoked.headers["cache-control"] == "no-store"
        assert revoked.headers["pragma"] == "no-cache"
        response = await _refresh(harness, auth, second)
        assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("hint", ["refresh_token", "access_token", "something_else"])
async def test_the_token_type_hint_changes_nothing(clock, hint):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        revoked = await _revoke(harness, auth, refresh_token, token_type_hint=hint)
        assert revoked.status_code == 200
        assert (await _refresh(harness, auth, refresh_token)).json()["error"] == "invalid_grant"


async def test_revoking_an_unknown_token_or_an_access_token_answers_200(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        opened = await _open(harness, auth)
        for token in ("atr_unknown", "anything", opened.json()["access_token"]):
            response = await _revoke(harness, auth, token)
            assert response.status_code == 200
            assert response.content == b""
        assert (await _refresh(harness, auth, opened.json()["refresh_token"])).status_code == 200


async def test_revoking_another_clients_refresh_token_answers_200_and_revokes_nothing(clock):
    async with running(clock, "--tokens-session-clients", "users,portal") as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        portal = basic("portal", await add_client(harness, "portal", audiences=AUDIENCES))
        assert (await _revoke(harness, portal, refresh_token)).status_code == 200
        assert (await _refresh(harness, auth, refresh_token)).status_code == 200


@pytest.mark.parametrize("credentials", [None, ("users", "not-its-secret"), ("nobody", "x")])
async def test_revocation_needs_the_client_authenticated(clock, credentials):
    async with running(clock, *SESSION_CLIENTS) as harness:
        auth = await _users(harness)
        refresh_token = (await _open(harness, auth)).json()["refresh_token"]
        headers = basic(*credentials) if credentials else {}
        response = await _revoke(harness, headers, refresh_token)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"] == 'Basic realm="auth"'
        assert (await _refresh(harness, auth, refresh_token)).status_code == 200


async def test_revocation_authenticates_the_client_by_post_too(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        secret = await add_client(harness, "users", scopes=SCOPES, audiences=AUDIENCES)
        refresh_token = (await _open(harness, basic("users", secret))).json()["refresh_token"]
        form = {"client_id": "users", "client_secret": secret}
        assert (await _revoke(harness, {}, refresh_token, **form)).status_code == 200
        response = await _refresh(harness, basic("users", secret), refresh_token)
        assert response.json()["error"] == "invalid_grant"


async def test_revocation_without_a_token_is_invalid_request(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        response = await harness.client.post(
            "/oauth/revoke",
            data={"token_type_hint": "refresh_token"},
            headers=await _users(harness),
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


async def test_the_revocation_endpoint_takes_post_only(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        response = await harness.client.get("/oauth/revoke")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("content", "headers", "url", "status"),
    [
        (b"token=atr_x", {"content-type": "application/json"}, "/oauth/revoke", 400),
        (b"token=atr_x", None, "/oauth/revoke?token=atr_y", 400),
        (b"token=" + b"a" * 5000, None, "/oauth/revoke", 413),
        (b"token=a&token=b", None, "/oauth/revoke", 400),
    ],
)
async def test_the_revocation_endpoint_reads_requests_as_the_token_endpoint(
    clock, content, headers, url, status
):
    async with running(clock, *SESSION_CLIENTS) as harness:
        sent = {"content-type": "application/x-www-form-urlencoded", **await _users(harness)}
        sent.update(headers or {})
        response = await harness.client.post(url, content=content, headers=sent)
        assert response.status_code == status
        assert response.json()["error"] == "invalid_request"


# -- metadata and options -------------------------------------------------------------------


async def test_the_metadata_names_the_grants_and_the_revocation_endpoint(clock):
    async with running(clock, "--tokens-issuer", "https://id.example.org") as harness:
        document = (await harness.client.get("/.well-known/oauth-authorization-server")).json()
        assert document["grant_types_supported"] == [
            "client_credentials",
            "refresh_token",
            SESSION_GRANT,
        ]
        assert document["revocation_endpoint"] == "https://id.example.org/oauth/revoke"
        assert document["revocation_endpoint_auth_methods_supported"] == [
            "client_secret_basic",
            "client_secret_post",
        ]


def test_the_session_grant_is_named_as_an_extension_grant():
    assert SESSION_GRANT == "urn:atoll:params:oauth:grant-type:session"


def test_the_session_options_default_to_no_session_client_14_and_30_days():
    options = TokenOptions()
    assert options.session_clients == []
    assert options.refresh_lifetime == 14 * 86400
    assert options.session_lifetime == 30 * 86400


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"refresh_lifetime": 59}, "refresh_lifetime must be at least 60 seconds"),
        (
            {"refresh_lifetime": 3600, "session_lifetime": 3599},
            r"session_lifetime \(3599 s\) must be at least refresh_lifetime \(3600 s\)",
        ),
        ({"session_lifetime": 31536001}, "session_lifetime must be at most 31536000 seconds"),
        ({"session_clients": ["users", "the users"]}, "session_clients holds 'the users'"),
        ({"session_clients": [""]}, "which is no client id"),
    ],
)
def test_session_options_out_of_bounds_are_refused_with_the_fix(given, message):
    with pytest.raises(ValueError, match=message):
        TokenOptions(**given)


def test_the_shortest_and_longest_session_options_are_accepted():
    TokenOptions(refresh_lifetime=60, session_lifetime=60, session_clients=["users", "a.b~c_d-e"])
    TokenOptions(refresh_lifetime=31536000, session_lifetime=31536000)


async def test_the_database_keeps_a_refresh_tokens_sha256_never_the_token(clock):
    async with running(clock, *SESSION_CLIENTS) as harness:
        refresh_token = (await _open(harness, await _users(harness))).json()["refresh_token"]
        sessions = await harness.container.aget(Sessions)
        async with AuthUnitOfWork(sessions.database) as uow:
            (kept,) = await uow.refresh_tokens.find()
    assert kept.id == hashlib.sha256(refresh_token.encode()).hexdigest() == token_id(refresh_token)
    assert refresh_token not in repr(kept)
    assert refresh_token[4:] not in repr(kept)
