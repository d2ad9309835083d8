"""The README's service example: shown as it is, and answering as the README says."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import atoll.testing

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello.py"


def load_hello():
    spec = importlib.util.spec_from_file_location("hello_example", HELLO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_the_service_example_as_it_is():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert HELLO.read_text() in blocks


async def test_hello_answers_over_rest_and_json_rpc_as_the_readme_says():
    hello = load_hello()
    async with atoll.testing.run(hello.service) as harness:
        response = await harness.client.get("/hello/ada", params={"excited": "true"})
        assert response.json() == {"text": "hello ada!", "to": "ada"}
        assert await harness.rpc.methods.hello(name="bo") == {"text": "hello bo", "to": "bo"}
        wrong = await harness.client.get("/hello/ada", params={"excited": "maybe"})
        assert wrong.status_code == 422
        assert "`query.excited`" in wrong.json()["detail"]
        page = await harness.client.get("/docs")
        assert page.status_code == 200
        document = (await harness.client.get("/openapi.json")).json()
        assert "/hello/{name}" in document["paths"]
