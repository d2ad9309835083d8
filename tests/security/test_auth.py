"""Authentication on every transport: credentials read as RFC 6750 says, default-deny, public."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import pytest

import atoll
import atoll.testing
from atoll.errors import MalformedCredentialsError, RemoteError
from atoll.messaging.context import Headers, Request
from atoll.security.auth import Authenticator, AuthOptions, bearer_token
from atoll.security.identity import ANONYMOUS, Identity, identity_of_claims


def request(*headers: tuple[str, str], query: dict[str, list[str]] | None = None) -> Request:
    return Request("http", method="GET", path="/", headers=Headers(headers), query=query)


# -- credentials ----------------------------------------------------------------------------------


def test_a_bearer_token_is_read_from_the_one_authorization_header():
    assert bearer_token(request(("Authorization", "Bearer abc.def.ghi"))) == "abc.def.ghi"
    assert bearer_token(request(("authorization", "bearer  abc.def.ghi "))) == "abc.def.ghi"


@pytest.mark.parametrize(
    "headers", [(), (("authorization", "Basic dXNlcjpwYXNz"),), (("x-other", "Bearer a"),)]
)
def test_no_bearer_credentials_are_no_token(headers):
    assert bearer_token(request(*headers)) is None


@pytest.mark.parametrize(
    ("headers", "query", "refusal"),
    [
        ((("authorization", "Bearer a"), ("authorization", "Bearer b")), None, "one Authorization"),
        ((("authorization", "Bearer"),), None, "needs a token after it"),
        ((("authorization", "Bearer   "),), None, "needs a token after it"),
        ((("authorization", "Bearer a b"),), None, "holds no spaces"),
        ((), {"access_token": ["abc"]}, "a token in the URL is refused"),
    ],
    ids=["two-headers", "no-token", "blank-token", "spaces", "in-the-url"],
)
def test_credentials_sent_otherwise_than_rfc_6750_says_are_refused(headers, query, refusal):
    with pytest.raises(MalformedCredentialsError, match=refusal) as refused:
        bearer_token(request(*headers, query=query))
    assert refused.value.code == "invalid_request"
    assert "abc" not in str(refused.value)


# -- identity -------------------------------------------------------------------------------------


def test_the_identity_of_a_users_token():
    identity = identity_of_claims(
        {
            "iss": "https://id.example.org",
            "sub": "user-1",
            "aud": "runs",
            "scope": "runs:read runs:write",
            "roles": ["coach"],
            "jti": "t-9",
            "exp": 1_900_000_000,
            "client_id": "web",
        }
    )
    assert (identity.kind, identity.subject, identity.issuer) == (
        "user",
        "user-1",
        "https://id.example.org",
    )
    assert identity.audience == ("runs",)
    assert identity.has_scopes("runs:read", "runs:write")
    assert not identity.has_scopes("runs:admin")
    assert identity.has_roles("coach")
    assert identity.token_id == "t-9"  # noqa: S105 - a token's id, no secret
    assert identity.expires == dt.datetime(2030, 3, 17, 17, 46, 40, tzinfo=dt.UTC)
    assert identity.claims["client_id"] == "web"
    assert identity.authenticated


def test_a_token_a_service_holds_for_itself_is_a_service_identity():
    identity = identity_of_claims({"sub": "stats", "client_id": "stats", "scp": ["runs:read"]})
    assert (identity.kind, identity.scopes) == ("service", frozenset({"runs:read"}))


def test_no_proof_is_anonymous():
    assert not ANONYMOUS.authenticated
    assert (ANONYMOUS.kind, ANONYMOUS.subject, ANONYMOUS.scopes) == ("anonymous", "", frozenset())


def test_a_challenge_names_the_realm_and_the_error_only_when_credentials_were_given():
    authenticator = Authenticator(AuthOptions(), 'ru"ns')
    assert authenticator.challenge() == b'Bearer realm="runs"'
    assert authenticator.challenge("invalid_token", "the token has expired") == (
        b'Bearer realm="runs", error="invalid_token", error_description="the token has expired"'
    )


# -- default-deny ---------------------------------------------------------------------------------


def guarded_service() -> atoll.Service:
    service = atoll.Service("runs")

    @service.get("/runs")
    async def runs() -> list[int]:
        return [1, 2]

    @service.get("/status", public=True)
    async def status() -> str:
        return "up"

    @service.rpc
    async def secret() -> str:
        return "42"

    @service.rpc(public=True)
    async def ping() -> str:
        return "pong"

    @service.get("/me", public=True)
    async def me(identity: atoll.Identity) -> str:
        return identity.kind

    @service.rpc
    async def whoami(identity: atoll.Identity) -> str:
        return identity.subject

    return service


async def test_without_credentials_a_service_refusing_anonymous_calls_answers_401():
    async with atoll.testing.run(guarded_service(), argv=["--no-auth-anonymous"]) as harness:
        refused = await harness.client.get("/runs")
        served = await harness.client.get("/status")
        public = await harness.client.get("/me")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="runs"'
    assert refused.json()["title"] == "unauthenticated"
    assert "Authorization: Bearer" in refused.json()["detail"]
    assert served.json() == "up"
    assert public.json() == "anonymous"


async def test_json_rpc_refuses_an_anonymous_call_with_its_pinned_code_and_serves_public_ones():
    calls = [
        {"jsonrpc": "2.0", "method": "secret", "id": 1},
        {"jsonrpc": "2.0", "method": "ping", "id": 2},
    ]
    async with atoll.testing.run(guarded_service(), argv=["--no-auth-anonymous"]) as harness:
        answers = (await harness.client.post("/rpc", json=calls)).json()
        with pytest.raises(RemoteError) as refused:
            await harness.rpc.methods.secret()
    by_id = {answer["id"]: answer for answer in answers}
    assert by_id[1]["error"]["code"] == -32012
    assert by_id[1]["error"]["data"]["type"] == "UnauthenticatedError"
    assert by_id[2]["result"] == "pong"
    assert refused.value.code == -32012


@dataclass(frozen=True)
class Pace:
    meters: float
    seconds: int


def service_with_input() -> atoll.Service:
    service = atoll.Service("runs")

    @service.rpc
    @service.post("/paces")
    async def pace(body: Pace) -> float:
        return body.seconds / body.meters

    @service.get("/runs/{run_id}")
    async def run(run_id: int, day: dt.date | None = None) -> int:
        return run_id

    return service


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/paces", b'{"meters": "far", "unknown": 1}'),
        ("POST", "/paces", b"not json"),
        ("GET", "/runs/7?day=someday", None),
    ],
    ids=["wrong-body", "not-json", "wrong-query"],
)
async def test_a_call_that_must_prove_who_it_is_is_refused_before_its_input_is_read(
    method, path, body
):
    async with atoll.testing.run(service_with_input(), argv=["--no-auth-anonymous"]) as harness:
        headers = {"content-type": "application/json"}
        anonymous = await harness.client.request(method, path, content=body, headers=headers)
        headers["authorization"] = "Bearer"
        malformed = await harness.client.request(method, path, content=body, headers=headers)
    assert anonymous.status_code == 401, anonymous.text  # not a 422 telling the input's rules
    assert "far" not in anonymous.text
    assert "someday" not in anonymous.text
    assert malformed.status_code == 400
    assert malformed.json()["title"] != "Unprocessable Entity"


@pytest.mark.parametrize(
    "params",
    [{"body": {"meters": "far", "unknown": 1}}, {"nobody": 1}, [1, 2, 3]],
    ids=["wrong-param", "unknown-param", "too-many"],
)
async def test_a_json_rpc_call_that_must_prove_who_it_is_is_refused_before_its_params_are_read(
    params,
):
    async with atoll.testing.run(service_with_input(), argv=["--no-auth-anonymous"]) as harness:
        call = {"jsonrpc": "2.0", "method": "pace", "params": params, "id": 1}
        batch = [call, {**call, "id": 2}]
        answer = (await harness.client.post("/rpc", json=call)).json()
        answers = (await harness.client.post("/rpc", json=batch)).json()
    assert answer["error"]["code"] == -32012  # not -32602 telling the params' rules
    assert "far" not in json.dumps(answer)
    assert [each["error"]["code"] for each in answers] == [-32012, -32012]


async def test_malformed_credentials_are_a_400_with_invalid_request():
    async with atoll.testing.run(guarded_service()) as harness:
        refused = await harness.client.get("/me", params={"access_token": "abc"})
    assert refused.status_code == 400
    assert refused.headers["www-authenticate"].startswith(
        'Bearer realm="runs", error="invalid_request"'
    )
    assert "abc" not in refused.text


async def test_a_service_serving_anonymous_calls_serves_them_all():
    async with atoll.testing.run(guarded_service()) as harness:
        assert (await harness.client.get("/runs")).json() == [1, 2]
        assert (await harness.client.get("/me")).json() == "anonymous"
        assert await harness.rpc.methods.secret() == "42"


async def test_a_bearer_token_sent_to_a_service_without_an_issuer_proves_nothing():
    async with atoll.testing.run(guarded_service()) as harness:
        answer = await harness.client.get("/me", headers={"authorization": "Bearer a.b.c"})
    assert answer.json() == "anonymous"


# -- in the process -------------------------------------------------------------------------------

ADA = Identity(kind="user", subject="ada", scopes=frozenset({"runs:read"}))


async def test_a_test_calls_a_guarded_method_acting_as_an_identity():
    async with atoll.testing.run(guarded_service(), argv=["--no-auth-anonymous"]) as harness:
        with harness.acting_as(ADA):
            assert await harness.rpc.methods.secret() == "42"
            assert await harness.rpc.methods.whoami() == "ada"
        with pytest.raises(RemoteError):
            await harness.rpc.methods.whoami()  # the block is over: anonymous again


async def test_code_of_the_process_calls_a_guarded_method_acting_as_an_identity():
    nightly = Identity(kind="service", subject="nightly", scheme="process")
    async with atoll.testing.run(guarded_service(), argv=["--no-auth-anonymous"]) as harness:
        runs = harness.container.get(atoll.Clients).get("runs")  # as a task would ask
        with atoll.acting_as(nightly):
            assert await runs.methods.whoami() == "nightly"
        with pytest.raises(RemoteError) as refused:
            await runs.methods.whoami()  # the block is over: anonymous again
    assert refused.value.code == -32012


async def test_a_service_calling_another_in_the_process_calls_as_its_caller():
    relay = atoll.Service("relay")

    @relay.rpc
    async def ask(clients: atoll.Clients) -> str:
        return await clients.get("runs").methods.whoami()

    system = atoll.System(guarded_service(), relay, name="club")
    async with atoll.testing.run(system, argv=["--no-auth-anonymous"]) as harness:
        with harness.acting_as(ADA):
            assert await harness.rpc.methods.relay.ask() == "ada"
        with pytest.raises(RemoteError) as refused:
            await harness.rpc.methods.relay.ask()
    assert refused.value.code == -32012


# -- messages ------------------------------------------------------------------------------------


@dataclass
class Parcel:
    id: int | None
    events: list[object] = field(default_factory=list)


@dataclass(frozen=True)
class Post:
    to: str


@dataclass(frozen=True)
class Posted:
    parcel: int


@dataclass(frozen=True)
class Delivered:
    parcel: int


class PostUnits(atoll.UnitOfWork):
    parcels: atoll.Repository[Parcel]


async def test_who_made_the_call_travels_with_the_events_it_caused_across_hops():
    schema = atoll.Schema()
    schema.map(Parcel)
    post = atoll.Service("post")
    post.database(schema, PostUnits)
    seen: list[tuple[str, atoll.Identity]] = []

    @post.command(Post)
    async def send(command: Post, uow: PostUnits) -> None:
        async with uow:
            parcel = await uow.parcels.add(Parcel(None))
            parcel.events.append(Posted(parcel.id or 0))
            await uow.commit()

    @post.on(Posted)
    async def deliver(event: Posted, uow: PostUnits, identity: atoll.Identity) -> None:
        seen.append(("posted", identity))
        async with uow:
            uow.publish(Delivered(event.parcel))
            await uow.commit()

    @post.on(Delivered)
    async def delivered(event: Delivered, identity: atoll.Identity) -> None:
        seen.append(("delivered", identity))

    async with atoll.testing.run(post, argv=["--db-url", "memory://"]) as harness:
        with harness.acting_as(ADA):
            await harness.send(Post("bo"))
        await harness.send(Post("anonymous"))
    by_hop = [(hop, identity.kind, identity.subject, identity.scheme) for hop, identity in seen]
    assert by_hop == [
        ("posted", "user", "ada", "message"),
        ("delivered", "user", "ada", "message"),
        ("posted", "anonymous", "", ""),
        ("delivered", "anonymous", "", ""),
    ]


async def test_openapi_says_which_operations_take_a_bearer_token_and_which_need_one():
    async with atoll.testing.run(guarded_service(), argv=["--no-auth-anonymous"]) as harness:
        denying = (await harness.client.get("/openapi.json")).json()
    async with atoll.testing.run(guarded_service()) as harness:
        serving_all = (await harness.client.get("/openapi.json")).json()
    scheme = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert denying["components"]["securitySchemes"] == {"bearer": scheme}
    assert denying["paths"]["/runs"]["get"]["security"] == [{"bearer": []}]
    assert set(denying["paths"]["/runs"]["get"]["responses"]) >= {"400", "401"}
    assert "security" not in denying["paths"]["/status"]["get"]  # public, and asks for no one
    assert denying["paths"]["/me"]["get"]["security"] == [{}, {"bearer": []}]  # public, asks
    assert "security" not in serving_all["paths"]["/runs"]["get"]
    assert "401" not in serving_all["paths"]["/runs"]["get"]["responses"]
    assert serving_all["paths"]["/me"]["get"]["security"] == [{}, {"bearer": []}]
