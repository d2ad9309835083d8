"""The pages' Content-Security-Policy: inline scripts allowed by their hashes, nothing framed."""

from __future__ import annotations

import base64
import hashlib

from atoll.frontends.policy import inline_scripts, page_policy
from tests.rpc_doubles import served_here


def sha256(text: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'"


def test_each_inline_script_is_allowed_by_its_hash_and_a_loaded_one_by_its_origin():
    page = (
        b'<script type="importmap">{"imports":{}}</script>\n'
        b'<script type="module" src="/ui/runs/3f2a/components.js"></script>\n'
        b"<SCRIPT>\nrun();\n</SCRIPT >\n"
        b'<script type="importmap">{"imports":{}}</script>\n'  # the same text: one hash
    )
    assert inline_scripts(page) == [sha256(b'{"imports":{}}'), sha256(b"\nrun();\n")]


def test_the_policy_names_the_origins_given_and_refuses_frames():
    headers = dict(
        page_policy(
            b"<p>no script</p>",
            scripts=["http://10.0.0.7:8002"],
            connect=["http://10.0.0.7:8002", "https://api.example"],
            worker=True,
        )
    )
    assert headers[b"content-security-policy"].decode().split("; ") == [
        "script-src 'self' http://10.0.0.7:8002",
        (
            "connect-src 'self' http://10.0.0.7:8002 ws://10.0.0.7:8002 https://api.example"
            " wss://api.example"
        ),
        "style-src 'self' 'unsafe-inline'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    assert headers[b"x-frame-options"] == b"DENY"


async def test_in_a_browser_the_page_s_own_script_runs_and_one_added_after_is_refused(page):
    own = b"<script>document.documentElement.dataset.own = 'ran';</script>"
    added = b"<script>document.documentElement.dataset.added = 'ran';</script>"
    headers = dict(page_policy(b"<!doctype html>" + own))

    async def app(scope, receive, send):
        if scope["type"] == "http":
            kind = (b"content-type", b"text/html; charset=utf-8")
            sent = [kind, *headers.items()]
            await send({"type": "http.response.start", "status": 200, "headers": sent})
            await send({"type": "http.response.body", "body": b"<!doctype html>" + own + added})

    async with served_here(app) as base:
        await page.goto(base + "/")
        await page.wait_for_function("() => document.documentElement.dataset.own === 'ran'")
        await page.wait_for_function("() => globalThis.atollViolations.length > 0")
        assert await page.evaluate("document.documentElement.dataset.added") is None
        assert await page.evaluate("globalThis.atollViolations") == [
            "script-src-elem refused inline"
        ]
