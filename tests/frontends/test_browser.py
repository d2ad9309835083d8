"""Components built with Transcrypt and run in a real browser (Debian's Chromium, headless).

microthings' examples: ``<mything-hello name="Bob">`` renders ``Hello Bob!`` in an open
shadow root, ``Guest`` without the attribute; a counter keeps its state and counts clicks.
And what microthings' glue got wrong: an attribute's change renders again, moving an element
does not throw, leaving the document calls ``disconnected``, the styles stay in the shadow
root. The page is served by ``ComponentAssets`` over real HTTP, its first paint rendered on
the server.
"""

from __future__ import annotations

import httpx
import pytest

from atoll.adapters.transcrypt import TranscryptCompiler
from atoll.frontends.build import build_components
from atoll.frontends.component import render_component
from atoll.frontends.serving import ComponentAssets
from tests.frontends.conftest import screenshot
from tests.rpc_doubles import served_here

pytestmark = pytest.mark.services("node")


@pytest.fixture(scope="module")
def built(mything, tmp_path_factory):
    """The example components, built once for the module's tests, and where."""
    components = [mything.Hello, mything.Counter, mything.Visits, mything.Tally]
    output = tmp_path_factory.mktemp("ui") / "mything"
    build_components("mything", components, output, TranscryptCompiler())
    return components, output


@pytest.fixture
async def served(built):
    components, output = built
    assets = ComponentAssets("mything", components, output)
    assets.load()

    async def app(scope, receive, send):
        scope = {**scope, "root_path": "/ui"}
        await assets(scope, receive, send)

    async with served_here(app) as base:
        yield base + "/ui/"


def shadow_text(tag: str) -> str:
    return f"document.querySelector('{tag}').shadowRoot.textContent"


async def test_hello_renders_its_name_or_guest_in_an_open_shadow_root(page, served):
    await page.goto(served)
    await page.wait_for_function("() => customElements.get('mything-hello') !== undefined")
    assert await page.evaluate(shadow_text("mything-hello")) == "Hello Guest!"
    await page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<mything-hello id=bob name=Bob></mything-hello>')"
    )
    assert await page.evaluate("document.querySelector('#bob').shadowRoot.textContent") == (
        "Hello Bob!"
    )
    assert await page.evaluate("document.querySelector('#bob').shadowRoot.mode") == "open"
    await screenshot(page, "mything-hello")
    assert page.errors == []
    assert page.violations == []


async def test_an_attribute_changed_renders_again_and_so_does_the_property(page, served):
    await page.goto(served)
    await page.wait_for_function("() => customElements.get('mything-hello') !== undefined")
    await page.evaluate("document.querySelector('mything-hello').setAttribute('name', 'Ann')")
    await page.wait_for_function(f"() => {shadow_text('mything-hello')} === 'Hello Ann!'")
    await page.evaluate("document.querySelector('mything-hello').name = 'Zoe'")
    await page.wait_for_function(f"() => {shadow_text('mything-hello')} === 'Hello Zoe!'")
    await page.evaluate("document.querySelector('mything-hello').removeAttribute('name')")
    await page.wait_for_function(f"() => {shadow_text('mything-hello')} === 'Hello Guest!'")
    assert page.errors == []
    assert page.violations == []


async def test_the_counter_counts_clicks_in_its_state(page, served):
    await page.goto(served)
    button = page.locator("mything-counter button")  # Playwright's locators pierce shadow roots
    await button.click()
    await page.wait_for_function(f"() => {shadow_text('mything-counter')} === 'Clicked 1 times'")
    await page.evaluate("document.querySelector('mything-counter').setAttribute('step', '5')")
    await button.click()
    await page.wait_for_function(f"() => {shadow_text('mything-counter')} === 'Clicked 6 times'")
    await screenshot(page, "mything-counter")
    assert page.errors == []
    assert page.violations == []


async def test_moving_an_element_keeps_its_state_and_throws_nothing(page, served):
    await page.goto(served)
    await page.locator("mything-counter button").click()
    await page.wait_for_function(f"() => {shadow_text('mything-counter')} === 'Clicked 1 times'")
    await page.evaluate("document.body.append(document.querySelector('mything-counter'))")
    await page.evaluate(
        "document.querySelector('main').prepend(document.querySelector('mything-counter'))"
    )
    assert await page.evaluate(shadow_text("mything-counter")) == "Clicked 1 times"
    await page.locator("mything-counter button").click()
    await page.wait_for_function(f"() => {shadow_text('mything-counter')} === 'Clicked 2 times'")
    assert page.errors == []
    assert page.violations == []


async def test_leaving_the_document_calls_disconnected_and_coming_back_connected(page, served):
    await page.goto(served)
    await page.wait_for_function(f"() => {shadow_text('mything-visits')} === 'in 1, out 0'")
    await page.evaluate(
        "(() => { const visits = document.querySelector('mything-visits');"
        " visits.remove(); document.body.append(visits); })()"
    )
    await page.wait_for_function(f"() => {shadow_text('mything-visits')} === 'in 2, out 1'")
    assert page.errors == []
    assert page.violations == []


async def test_props_of_any_type_pass_from_the_server_to_the_browser(page, served, built):
    """A list the server rendered with reaches the browser's first render as a list."""
    components, _ = built
    tally = components[3]
    items = [{"name": "runs", "count": 3}, {"name": "rests", "count": 1}]
    html = render_component(tally, {"id": "tally", "items": items, "unit": "days"})
    await page.goto(served)
    await page.wait_for_function("() => customElements.get('mything-tally') !== undefined")
    await page.evaluate("html => document.querySelector('main').setHTMLUnsafe(html)", html)
    text = "document.querySelector('#tally').shadowRoot.textContent"
    assert await page.evaluate(text) == "runs: 3 daysrests: 1 days"
    assert await page.evaluate("document.querySelector('#tally').component.renders") == 1
    await page.evaluate("document.querySelector('#tally').items = [{name: 'naps', count: 2}]")
    await page.wait_for_function(f"() => {text} === 'naps: 2 days'")
    assert page.errors == []
    assert page.violations == []


async def test_styles_stay_in_the_shadow_root(page, served):
    await page.goto(served)
    await page.wait_for_function("() => customElements.get('mything-hello') !== undefined")
    await page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<p id=outside>outside</p>')"
    )
    inside = await page.evaluate(
        "getComputedStyle(document.querySelector('mything-hello').shadowRoot"
        ".querySelector('p')).color"
    )
    outside = await page.evaluate("getComputedStyle(document.querySelector('#outside')).color")
    assert inside == "rgb(102, 51, 153)"
    assert outside == "rgb(0, 0, 0)"
    # the server's <style> copy is gone: the sheet is adopted once, shared by every element
    assert (
        await page.evaluate(
            "document.querySelector('mything-hello').shadowRoot.querySelectorAll('style').length"
        )
        == 0
    )
    assert (
        await page.evaluate(
            "document.querySelector('mything-hello').shadowRoot.adoptedStyleSheets.length"
        )
        == 1
    )


async def test_the_first_paint_shows_without_javascript(served):
    """The server's page holds each component's view in a declarative shadow root."""
    from playwright.async_api import async_playwright  # noqa: PLC0415

    from tests.frontends.conftest import CHROMIUM, FLAGS  # noqa: PLC0415

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = await browser.new_context(java_script_enabled=False)
            page = await context.new_page()
            await page.goto(served)
            assert await page.locator("mything-hello p").inner_text() == "Hello Guest!"
            assert await page.locator("mything-counter button").inner_text() == "Clicked 0 times"
            color = await page.locator("mything-hello p").evaluate("p => getComputedStyle(p).color")
            assert color == "rgb(102, 51, 153)"
            await screenshot(page, "mything-without-javascript")
        finally:
            await browser.close()


async def test_the_files_are_served_hashed_with_long_cache_and_their_types(served):
    async with httpx.AsyncClient() as client:
        manifest = (await client.get(served + "fragments.json")).json()
        assert manifest["module"].startswith("/ui/" + manifest["version"] + "/")
        assert [each["tag"] for each in manifest["components"]] == [
            "mything-hello",
            "mything-counter",
            "mything-visits",
            "mything-tally",
        ]
        module = await client.get(served.removesuffix("/ui/") + manifest["module"])
        assert module.status_code == 200
        assert module.headers["content-type"] == "text/javascript; charset=utf-8"
        assert module.headers["cache-control"] == "public, max-age=31536000, immutable"
        preact = await client.get(served + manifest["version"] + "/preact.mjs")
        assert preact.status_code == 200
        assert b"createElement" in preact.content
        missing = await client.get(served + manifest["version"] + "/nothing.js")
        assert missing.status_code == 404
        refused = await client.post(served + "fragments.json")
        assert refused.status_code == 405


async def test_the_page_allows_scripts_and_requests_of_its_own_origin_alone(served):
    async with httpx.AsyncClient() as client:
        answered = await client.get(served)
    policy = answered.headers["content-security-policy"]
    assert policy.split("; ") == [
        "script-src 'self'",
        "connect-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "worker-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    assert answered.headers["x-frame-options"] == "DENY"


DEFINED_AGAIN = """async ([glue, observed]) => {
  // another service's build: a copy of the glue of its own, as another module
  const { define } = await import(glue + '?another-build');
  function Impostor() {}
  Impostor.tag = 'mything-hello';
  Impostor.observed = observed;
  const said = [];
  const logged = console.error;
  console.error = (...words) => said.push(words.join(' '));
  try {
    const element = define(Impostor);
    return { said, kept: element === customElements.get('mything-hello') };
  } catch (error) {
    return { said, threw: String(error) };
  } finally {
    console.error = logged;
  }
}"""


async def glue_of(page, served: str) -> str:
    """The address of the element glue of the build ``served`` shows, once it defined hers."""
    await page.goto(served)
    await page.wait_for_function("() => customElements.get('mything-hello') !== undefined")
    manifest = await page.evaluate("fetch('fragments.json').then((r) => r.json())")
    return served + manifest["version"] + "/atoll-elements.js"


async def test_a_tag_another_build_defined_is_kept_and_both_are_named(page, served):
    glue = await glue_of(page, served)
    found = await page.evaluate(DEFINED_AGAIN, [glue, []])
    assert found["kept"] is True
    (said,) = found["said"]
    assert said.startswith("<mything-hello> of Impostor of ")
    assert "the page has it already, from Hello of " in said
    assert said.endswith("give one of the two components another tag")
    assert await page.evaluate(shadow_text("mything-hello")) == "Hello Guest!"
    assert page.errors == []


async def test_a_prop_named_as_a_method_of_the_element_is_refused(page, served):
    glue = await glue_of(page, served)
    script = DEFINED_AGAIN.replace("'mything-hello'", "'mything-caller'", 1)
    found = await page.evaluate(script, [glue, ["name", "call"]])
    assert found["threw"] == (
        'Error: mything-caller observes "call", which its element has as its own: '
        "choose another name"
    )
    assert await page.evaluate("customElements.get('mything-caller') === undefined")
