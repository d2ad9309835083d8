"""The ``[auth.jwt]`` options: what they refuse when loaded, and what they take."""

from __future__ import annotations

import dataclasses
import re

import pytest

from atoll.errors import AtollError, ConfigError
from atoll.kernel.config import ConfigSpec
from atoll.kernel.options import Secret, option
from atoll.security.tokens import InvalidTokenError, JwtOptions

ISSUER = "https://id.example.org/"
AUDIENCE = ["https://runs.example.org"]
PEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----"
SECRET = Secret("s" * 32)


def jwt_options(**changes) -> JwtOptions:
    values = {"issuer": ISSUER, "audience": AUDIENCE, "keys": [PEM]}
    return JwtOptions(**{**values, **changes})


def test_the_defaults_turn_jwt_off_and_are_valid():
    off = JwtOptions()
    assert not off.enabled
    assert off.algorithms == ["EdDSA", "RS256", "ES256"]
    assert off.required == ["exp", "iat", "iss", "aud", "sub"]
    assert off.types == ["at+jwt", "JWT"]
    assert (off.leeway, off.max_bytes) == (30.0, 8192)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"keys": [], "jwks_url": "https://id.example.org/jwks.json"},
        {"keys": [], "jwks_url": "http://127.0.0.1:8000/jwks.json"},
        {"keys": [], "jwks_url": "http://localhost/jwks.json"},
        {"keys": [], "jwks_url": "http://[::1]:8000/jwks.json"},
        {"keys": [], "algorithms": ["HS256"], "secret": SECRET},
        {"keys": [], "algorithms": ["HS512", "HS256"], "secret": Secret("s" * 64)},
        {"algorithms": ["PS512", "ES384", "ES256K"]},
        {"leeway": 0.0},
        {"leeway": 300.0},
        {"types": ["at+jwt"]},
        {"required": ["exp", "https://example.org/roles", "client_id"]},
    ],
    ids=repr,
)
def test_a_sound_configuration_is_taken(changes):
    assert jwt_options(**changes).enabled


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"algorithms": ["RS256", "none"]}, "algorithms holds 'none', which accepts tokens"),
        ({"algorithms": ["NoNe"]}, "algorithms holds 'NoNe', which accepts tokens without"),
        ({"algorithms": []}, "algorithms is empty, so every token would be refused"),
        ({"algorithms": ["rs256"]}, "which is no signature algorithm; did you mean 'RS256'?"),
        ({"algorithms": ["RSA-OAEP"]}, "'RSA-OAEP', which is no signature algorithm; known: ES256"),
        ({"keys": [], "algorithms": ["HS256"]}, "algorithms holds HS256 but secret is not set"),
        (
            {"keys": [], "algorithms": ["HS256"], "secret": Secret("s" * 31)},
            "secret is 31 bytes long, and HS256 needs at least 32 (RFC 7518, 3.2)",
        ),
        (
            {"keys": [], "algorithms": ["HS384"], "secret": Secret("s" * 40)},
            "secret is 40 bytes long, and HS384 needs at least 48",
        ),
        (
            {"keys": [], "algorithms": ["HS256"], "secret": Secret("")},
            "but secret is not set",
        ),
        (
            {"algorithms": ["HS256", "RS256"], "secret": SECRET},
            "algorithms mixes HMAC (HS256) with public-key algorithms (RS256)",
        ),
        (
            {"algorithms": ["HS256"], "secret": SECRET},
            "keys or jwks_url is set but algorithms holds only HMAC (HS256)",
        ),
        ({"secret": SECRET}, "secret is set but algorithms holds no HMAC algorithm"),
        ({"keys": []}, "algorithms holds EdDSA, RS256, ES256 but neither keys nor jwks_url"),
        ({"audience": []}, "audience must name this service"),
        ({"audience": [""]}, "audience must name this service"),
        (
            {"keys": [], "jwks_url": "http://id.example.org/jwks.json"},
            "jwks_url 'http://id.example.org/jwks.json' is not an https URL",
        ),
        (
            {"keys": [], "jwks_url": "http://127.0.0.1.evil.example/jwks"},
            "is not an https URL",
        ),
        ({"keys": [], "jwks_url": "file:///etc/jwks.json"}, "is not an https URL"),
        ({"keys": [], "jwks_url": "https:///jwks.json"}, "is not an https URL"),
        (
            {"keys": [], "jwks_url": "http://user:hunter2@localhost.example/"},
            "'http://user:********@localhost.example/' is not an https URL",
        ),
        ({"leeway": -1.0}, "leeway must be between 0 and 300 seconds, such as 30; got -1.0"),
        ({"leeway": 301.0}, "leeway must be between 0 and 300 seconds"),
        ({"leeway": float("nan")}, "leeway must be between 0 and 300 seconds"),
        ({"types": []}, "types must name the typ headers accepted"),
        ({"required": ["exp", 'a"b']}, "required holds 'a\"b', which is no claim name"),
        ({"required": ["exp", "two words"]}, "which is no claim name"),
        ({"max_bytes": 100}, "max_bytes must be between 256 and 1048576"),
        ({"jwks_timeout": 0.0}, "jwks_timeout must be a finite number of seconds above 0"),
        ({"jwks_refresh": -1.0}, "jwks_refresh must be a finite number of seconds above 0"),
        ({"jwks_max_age": float("inf")}, "jwks_max_age must be a finite number"),
    ],
    ids=repr,
)
def test_a_weak_or_impossible_configuration_is_refused_with_the_fix(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        jwt_options(**changes)


def test_a_secret_never_shows_in_the_refusal():
    with pytest.raises(ValueError, match="31 bytes") as caught:
        jwt_options(keys=[], algorithms=["HS256"], secret=Secret("hunter2-" * 3 + "1234567"))
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("name", ["audience", "jwks_url", "keys", "secret"])
def test_with_jwt_off_no_other_option_may_be_set(name):
    value = {
        "audience": AUDIENCE,
        "jwks_url": "https://id.example.org/jwks.json",
        "keys": [PEM],
        "secret": SECRET,
    }[name]
    with pytest.raises(ValueError, match=f"{name} is set but issuer is empty"):
        JwtOptions(**{name: value})


@dataclasses.dataclass(frozen=True)
class AuthOptions:
    jwt: JwtOptions = option(default_factory=JwtOptions, help="bearer JWTs")


def load(*argv: str, environ=None):
    spec = ConfigSpec([("auth", AuthOptions)], prog="runs", env_prefix="RUNS")
    return spec.load(list(argv), environ or {})


def test_the_section_nests_as_auth_jwt_with_its_flags_and_variables():
    config = load(
        "--auth-jwt-issuer",
        ISSUER,
        "--auth-jwt-audience",
        "https://runs.example.org,runs",
        "--auth-jwt-algorithms",
        "HS256",
        environ={"RUNS_AUTH_JWT_SECRET": "s" * 32},
    )
    jwt = config.section("auth").jwt
    assert jwt.audience == ["https://runs.example.org", "runs"]
    assert jwt.secret == Secret("s" * 32)


def test_a_refused_section_becomes_a_config_error_naming_it():
    with pytest.raises(ConfigError) as caught:
        load(
            "--auth-jwt-issuer",
            ISSUER,
            "--auth-jwt-audience",
            "runs",
            "--auth-jwt-algorithms",
            "HS256",
            environ={"RUNS_AUTH_JWT_SECRET": "short-and-secret"},
        )
    assert "section [auth.jwt] is invalid: secret is 16 bytes long" in str(caught.value)
    assert "short-and-secret" not in str(caught.value)


def test_invalid_token_error_is_an_atoll_error():
    assert issubclass(InvalidTokenError, AtollError)
