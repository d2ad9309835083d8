"""No secret reaches a log line, in text or in JSON, wherever in the record it is.

Each kind of secret (a secret option's value; an ``Authorization``, ``Cookie`` or
``Set-Cookie`` header; a field named like a password, a token or a secret; a password in a URL)
is logged in each place a record holds text (the message, its ``%`` arguments, an extra field,
a field of the log context, an exception's traceback), through both formats. Then a real
service, with a secret option and logging at DEBUG, is sent a login and its output searched.
"""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from atoll.kernel.app import App
from atoll.kernel.entrypoint import execute
from atoll.kernel.lifecycle import Lifecycle
from atoll.kernel.logs import ContextFilter, JsonFormatter, TextFormatter, log_context
from atoll.kernel.options import MASK, Secret, option
from atoll.kernel.redaction import FIELD_WORDS, HEADER_WORDS, MIN_SECRET_LENGTH, Redactor

HERE = Path(__file__).resolve().parent
KEY = "vault-key-6f1c2e"
"""A secret option's value."""
TOKEN = "abc.def.ghi"  # noqa: S105 - the token the tests look for
"""A bearer token, in an Authorization header."""
SESSION = "s3ss10n-id"
"""A session, in a Cookie and a Set-Cookie header."""
PASSWORD = "hunter2"  # noqa: S105 - the password the tests look for
"""A password, in a field named like one."""

FORMATS = ["text", "json"]
LINE = "%(levelname)s %(name)s: %(message)s"
WITH_CONTEXT = f"{LINE} %(context)s"


@dataclass(frozen=True)
class VaultOptions:
    key: Secret = option(Secret(""), help="the vault's key")


def written(kind: str, emit, *, secrets=(KEY,), fmt: str = LINE) -> str:
    """What a handler in format ``kind``, knowing ``secrets``, writes while ``emit(logger)`` logs.

    A JSON line comes back decoded, as ``LEVEL logger: message {context's fields}`` then its
    traceback, so that both formats are searched for the same text, unescaped.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    redactor = Redactor(secrets)
    if kind == "text":
        handler.setFormatter(TextFormatter(fmt, redactor=redactor))
    else:
        handler.setFormatter(JsonFormatter("shop", "host:1", redactor=redactor))
    logger = logging.getLogger("shop.orders")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    if kind == "text":
        return stream.getvalue()
    return "".join(as_text(json.loads(line)) for line in stream.getvalue().splitlines())


def as_text(entry: dict[str, str]) -> str:
    for member in ("time", "service", "instance"):
        del entry[member]
    entry.pop("correlation_id", None)  # a request's, in its every line
    level, name, message = entry.pop("level"), entry.pop("logger"), entry.pop("message")
    after = [entry.pop(member) for member in ("exception", "stack") if member in entry]
    context = f" {entry!r}" if entry else ""
    return "\n".join([f"{level.upper()} {name}: {message}{context}", *after]) + "\n"


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} is logged:\n{text}"
    assert MASK in text, text


# --- a secret option's value --------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
def test_a_secret_options_value_is_masked_in_the_message_and_in_its_arguments(kind):
    def emit(logger: logging.Logger) -> None:
        logger.info(f"connecting with {KEY}")  # noqa: G004 - a message that holds it
        logger.info("connecting with %s, then %r", KEY, {"key": KEY})

    text = written(kind, emit)
    assert_hidden(text, KEY)
    assert f"connecting with {MASK}, then {{'key': '{MASK}'}}" in text


@pytest.mark.parametrize("kind", FORMATS)
def test_a_secret_is_masked_as_a_json_string_escapes_it_and_as_a_url_encodes_it(kind):
    secret = 'key "with" / quotes'  # noqa: S105 - a secret to look for

    def emit(logger: logging.Logger) -> None:
        logger.info("body %s", json.dumps({"k": secret}))
        logger.info("url https://vault.example/?k=%s", "key%20%22with%22%20%2F%20quotes")

    text = written(kind, emit, secrets=(secret,))
    assert_hidden(text, secret, json.dumps(secret)[1:-1], "key%20%22with")


@pytest.mark.parametrize("kind", FORMATS)
def test_a_secret_shorter_than_the_minimum_is_masked_only_beside_its_name(kind):
    short = "k3y" * ((MIN_SECRET_LENGTH - 1) // 3)
    assert len(short) < MIN_SECRET_LENGTH

    def emit(logger: logging.Logger) -> None:
        logger.info("the key %s, and password=%s", short, short)

    text = written(kind, emit, secrets=(short,))
    assert f"the key {short}, and password={MASK}" in text


# --- Authorization, Cookie and Set-Cookie headers -----------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
def test_credential_headers_are_masked_in_a_message(kind):
    def emit(logger: logging.Logger) -> None:
        logger.info("authorization: Bearer %s", TOKEN)
        logger.info("Cookie: sid=%s; theme=dark", SESSION)
        logger.info("Set-Cookie: sid=%s; Path=/; HttpOnly", SESSION)
        logger.info("Proxy-Authorization: Basic %s", TOKEN)

    text = written(kind, emit)
    assert_hidden(text, TOKEN, SESSION, "Bearer", "theme")
    for line in ("authorization", "Cookie", "Set-Cookie", "Proxy-Authorization"):
        assert f"{line}: {MASK}" in text


@pytest.mark.parametrize("kind", FORMATS)
def test_credential_headers_are_masked_in_a_dict_or_a_list_of_pairs_logged_as_an_argument(kind):
    headers = {"Authorization": f"Bearer {TOKEN}", "cookie": f"sid={SESSION}", "accept": "*/*"}

    def emit(logger: logging.Logger) -> None:
        logger.info("headers %s", headers)
        logger.info("raw %s", [(b"authorization", f"Bearer {TOKEN}".encode()), (b"host", b"h")])
        logger.info("pairs %s", [("set-cookie", f"sid={SESSION}; Path=/")])

    text = written(kind, emit)
    assert_hidden(text, TOKEN, SESSION)
    assert f"'Authorization': '{MASK}', 'cookie': '{MASK}', 'accept': '*/*'" in text
    assert f"(b'authorization', b'{MASK}'), (b'host', b'h')" in text
    assert f"('set-cookie', '{MASK}')" in text


def test_credential_headers_are_masked_in_an_extra_field_the_text_format_writes():
    def emit(logger: logging.Logger) -> None:
        logger.info("request", extra={"headers": {"authorization": f"Bearer {TOKEN}"}})

    text = written("text", emit, fmt="%(message)s %(headers)s")
    assert text == f"request {{'authorization': '{MASK}'}}\n"


def test_an_extra_field_is_masked_in_the_fields_a_json_line_is_made_of():
    redactor = Redactor([KEY])
    extra = {
        "request": {
            "headers": {"Authorization": f"Bearer {TOKEN}", "Set-Cookie": f"sid={SESSION}"},
            "form": {"new_password": PASSWORD, "email": "ada@example.org"},
            "notes": [f"key {KEY}", {"client_secret": PASSWORD}, 3],
        },
        "status": 200,
    }
    assert redactor.fields(extra) == {
        "request": {
            "headers": {"Authorization": MASK, "Set-Cookie": MASK},
            "form": {"new_password": MASK, "email": "ada@example.org"},
            "notes": [f"key {MASK}", {"client_secret": MASK}, 3],
        },
        "status": 200,
    }


@pytest.mark.parametrize("kind", FORMATS)
def test_credential_headers_are_masked_in_the_log_context(kind):
    def emit(logger: logging.Logger) -> None:
        with log_context(authorization=f"Bearer {TOKEN}", cookie=f"sid={SESSION}", handler="h"):
            logger.info("in context")

    text = written(kind, emit, fmt=WITH_CONTEXT)
    assert_hidden(text, TOKEN, SESSION)
    shown = f"{{'authorization': '{MASK}', 'cookie': '{MASK}', 'handler': 'h'}}"
    assert f"in context {shown}" in text


# --- fields named like a password, a token or a secret ------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize(
    ("logged", "shown"),
    [
        ('{"password": "hunter2", "email": "a@b"}', f'{{"password": "{MASK}", "email": "a@b"}}'),
        ("password=hunter2 email=a@b", f"password={MASK} email=a@b"),
        ("PASSWORD: hunter2", f"PASSWORD: {MASK}"),
        ("?new_password=hunter2&next=/", f"?new_password={MASK}&next=/"),
        ("access_token=hunter2,api_token=hunter2", f"access_token={MASK},api_token={MASK}"),
        ("{'client_secret': 'hunter2'}", f"{{'client_secret': '{MASK}'}}"),
        ("LogIn(secret='hun\\'ter2', n=1)", f"LogIn(secret='{MASK}', n=1)"),
        ('"X-Api-Key": "hunter2"', f'"X-Api-Key": "{MASK}"'),
        ('{"passwords": ["hunter2", "x"]}', f'{{"passwords": {MASK}}}'),
        ("postgresql://ada:hunter2@db/runs", f"postgresql://ada:{MASK}@db/runs"),
    ],
)
def test_a_field_named_as_a_credential_is_masked_in_a_message(kind, logged, shown):
    text = written(kind, lambda logger: logger.info("got %s", logged))
    assert_hidden(text, PASSWORD, "hun\\'ter2")
    assert f"got {shown}" in text


@pytest.mark.parametrize("kind", FORMATS)
def test_a_field_named_as_a_credential_is_masked_in_the_log_context(kind):
    def emit(logger: logging.Logger) -> None:
        with log_context(password=PASSWORD, form=f"password={PASSWORD}", api_token=PASSWORD):
            logger.info("in context")

    text = written(kind, emit, fmt=WITH_CONTEXT)
    assert_hidden(text, PASSWORD)
    shown = f"{{'password': '{MASK}', 'form': 'password={MASK}', 'api_token': '{MASK}'}}"
    assert f"in context {shown}" in text


def json_lines(emit) -> list[str]:
    """What a JSON formatter made with no redactor writes while ``emit(logger)`` logs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter("shop", "host:1"))
    logger = logging.getLogger("shop.orders")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def test_a_json_formatter_masks_a_context_field_named_as_a_credential_whole_by_default():
    def emit(logger: logging.Logger) -> None:
        named = {"access_token": "no clue in it"}
        with log_context(correlation_id="c-1", **named):
            logger.info("in context")

    (entry,) = [json.loads(line) for line in json_lines(emit)]
    assert (entry["correlation_id"], entry["access_token"]) == ("c-1", MASK)


# --- exceptions ---------------------------------------------------------------------------------


def fail(key: str, password: str) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"}
    raise PermissionError(f"refused {key} with password={password} and {headers}")


@pytest.mark.parametrize("kind", FORMATS)
def test_secrets_are_masked_in_a_traceback(kind):
    def emit(logger: logging.Logger) -> None:
        try:
            fail(KEY, PASSWORD)
        except PermissionError:
            logger.exception("refused")

    text = written(kind, emit)
    assert_hidden(text, KEY, PASSWORD, TOKEN)
    assert "Traceback (most recent call last)" in text
    headers = f"{{'authorization': '{MASK}'}}"
    assert f"PermissionError: refused {MASK} with password={MASK} and {headers}" in text
    assert ", in fail" in text


# --- what is left alone -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize(
    "logged",
    [
        "recorded run 42 of user 7: 5000.0 m in 1500 s",
        "the token service issued a token for runner 1",
        "refused the token, which expired: sign in again",
        "token = make_token(password)",
        "Secret('********') and password=Secret('********')",
        "serving on http://127.0.0.1:8000 for ada@example.org",
    ],
)
def test_text_without_a_credential_is_written_as_it_is(kind, logged):
    assert written(kind, lambda logger: logger.info(logged)) == f"INFO shop.orders: {logged}\n"


def test_the_fields_of_a_record_without_a_credential_are_the_same_object():
    fields = {"message": "hello", "context": {"handler": "h"}, "count": 3}
    assert Redactor([KEY]).fields(fields) is fields


def test_a_redactor_knows_whether_a_secret_may_be_written_in_hexadecimal_digits():
    assert Redactor(["5f1c2a9e07d4"]).secrets_in_hex
    assert not Redactor(["hunter2hunter2", "5F1C2A9E07D4", "short"]).secrets_in_hex
    assert not Redactor().secrets_in_hex


@pytest.mark.parametrize("word", [*HEADER_WORDS, *FIELD_WORDS])
def test_every_word_of_a_credentials_name_is_found_in_any_case(word):
    redactor = Redactor()
    assert redactor.text(f"x-{word.upper()}-x=value") == f"x-{word.upper()}-x={MASK}"
    assert redactor.fields({f"my_{word.title()}": "value"}) == {f"my_{word.title()}": MASK}


def test_a_text_beyond_ascii_is_redacted_too():
    text = Redactor([KEY]).text(f"mot de passe: Pässwörter password=été {KEY} ✓")
    assert text == f"mot de passe: Pässwörter password={MASK} {MASK} ✓"


# --- the application's own formats --------------------------------------------------------------


@pytest.mark.parametrize("kind", FORMATS)
def test_log_format_masks_the_values_of_the_applications_secret_options(kind, monkeypatch):
    app = App("shop")
    app.options("vault", VaultOptions)

    @app.task
    async def stop(lifecycle: Lifecycle, vault: VaultOptions) -> None:
        logging.getLogger("shop.orders").warning("opening with %s", vault.key.reveal())
        lifecycle.request_stop()

    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        assert execute(app, ["--log-format", kind], {"SHOP_VAULT_KEY": KEY}) == 0
    finally:  # the process's handler writes text again for the tests after this one
        for handler in logging.getLogger().handlers:
            if type(handler).__name__ == "_StderrHandler":
                handler.setFormatter(TextFormatter())
    (line,) = [line for line in stderr.getvalue().splitlines() if "opening" in line]
    assert KEY not in stderr.getvalue()
    assert f"opening with {MASK}" in line


# --- a real service -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", FORMATS)
def test_a_service_logging_at_debug_writes_no_secret_it_was_given_or_sent(spawn, kind):
    process = spawn(
        sys.executable,
        "-m",
        "atoll",
        "run",
        "vault_service:service",
        *("--server-port", "0", "--log-level", "debug", "--log-libraries", "debug"),
        *("--log-format", kind),
        cwd=str(HERE),
        env={"VAULT_VAULT_KEY": KEY},
    )
    serving = process.wait_for("serving on", timeout=30)
    url = re.search(r"serving on (http://[^\s:]+:\d+)", serving)
    assert url is not None, serving
    answer = httpx.post(
        f"{url.group(1)}/login",
        json={"email": "ada@example.org", "password": PASSWORD},
        headers={"Authorization": f"Bearer {TOKEN}", "Cookie": f"sid={SESSION}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    process.wait_for("the vault refused")
    process.signal(signal.SIGTERM)
    assert process.finish() == 0, process.output
    output = process.output
    if kind == "json":
        entries = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert {entry["service"] for entry in entries} == {"vault"}
        output = "".join(as_text(entry) for entry in entries)
    for secret in (KEY, PASSWORD, TOKEN, SESSION):
        assert secret not in output, f"{secret!r} is logged:\n{output}"
    assert f"password='{MASK}'" in output  # the form, as an argument
    assert f"'authorization': '{MASK}'" in output  # the headers, as an argument
    assert f"'cookie': '{MASK}'" in output
    assert f"opening the vault with {MASK} for ada@example.org" in output
    assert f"PermissionError: the vault refused key {MASK} and password='{MASK}'" in output
    if kind == "json":  # the log context is written in JSON only
        shown = (
            f"{{'handler': 'vault.log_in', 'authorization': '{MASK}', 'form': 'password={MASK}'}}"
        )
        assert shown in output
