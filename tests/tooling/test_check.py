"""``atoll check``: each rule's finding at its file and line, with its fix; Runnerly clean."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from atoll.cli import cli
from atoll.tooling import import_work
from atoll.tooling.check import naming_patterns
from atoll.tooling.findings import KINDS, Finding, allowed
from atoll.tooling.import_work import import_findings
from atoll.tooling.project import project_of_directory
from atoll.tooling.system_map import HandlerEntry
from tests.tooling.projects import BAD_SHOP, forget, write

FIX = re.compile(r"; fix: .+$")
CANCELLING = "def test_cancelling(shop):\n    shop.cancel_order(1)\n"


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """The bad shop written out, the current directory, importable; forgotten after."""
    write(tmp_path, BAD_SHOP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    forget("badshop")
    yield tmp_path
    forget("badshop")


def lines_of(output):
    """Each finding's ``path:line: [kind] message``, its fix checked present and cut off."""
    found = output.splitlines()[:-1]
    assert all(FIX.search(line) for line in found), output
    return [FIX.sub("", line) for line in found]


def test_each_rule_finds_its_line_in_the_bad_shop(shop):
    result = CliRunner().invoke(cli, ["check", "badshop.app:system"])
    assert result.exit_code == 1, result.output
    assert lines_of(result.output) == [
        (
            "badshop/billing/application.py:5: [service-internals] badshop.billing.application, "
            "of service 'billing', imports badshop.orders.model, of service 'orders', which is not "
            "its contracts module"
        ),
        (
            "badshop/billing/application.py:21: [unpublished-event] service 'billing' consumes "
            "badshop.billing.application.PaymentRefunded, which no service of system 'shop' "
            "publishes"
        ),
        (
            "badshop/billing/application.py:21: [untested-handler] no test names handler refund of "
            "service 'billing' (PaymentRefunded)"
        ),
        (
            "badshop/billing/broken.py:1: [import-failed] importing badshop.billing.broken fails: "
            "ModuleNotFoundError: No module named 'badshop_missing_dependency'"
        ),
        (
            "badshop/billing/probe.py:4: [import-time-work] importing badshop.billing.probe "
            "connects a socket to ('127.0.0.1', 9)"
        ),
        (
            "badshop/orders/application.py:5: [unconsumed-event] service 'orders' publishes "
            "badshop.orders.contracts.OrderShipped, which no service of system 'shop' consumes"
        ),
        (
            "badshop/orders/application.py:13: [untested-handler] no test names handler "
            "cancel_order of service 'orders' (JSON-RPC cancel_order)"
        ),
        (
            "badshop/orders/domain.py:6: [layer-import] badshop.orders.domain, of the domain "
            "layer, imports badshop.orders.infrastructure, of the infrastructure layer outside it"
        ),
        (
            "badshop/orders/infrastructure.py:10: [import-time-work] importing "
            "badshop.orders.infrastructure starts a thread"
        ),
        (
            "badshop/orders/journal.py:3: [import-time-work] importing "
            "badshop.orders.journal opens '/dev/null' for writing"
        ),
        (
            "badshop/orders/model.py:3: [layer-import] badshop.orders.model, of the model layer, "
            "imports atoll"
        ),
    ]
    assert result.output.splitlines()[-1] == (
        "atoll check: 11 found (1 import-failed, 3 import-time-work, 2 layer-import, "
        "1 service-internals, 1 unconsumed-event, 1 unpublished-event, 2 untested-handler)"
    )


def test_a_finding_says_how_to_fix_it(shop):
    result = CliRunner().invoke(cli, ["check", "badshop.app:system"])
    model = next(line for line in result.output.splitlines() if "[layer-import] " in line)
    assert model.endswith(
        "; fix: depend inward only: declare what domain needs here (a Protocol) and implement "
        "it in infrastructure"
    )


def test_a_comment_on_the_line_or_above_allows_a_finding_of_its_kind(shop):
    application = shop / "badshop/orders/application.py"
    text = application.read_text()
    application.write_text(
        text.replace(
            "service.publishes(OrderPlaced, OrderShipped)",
            "# atoll: allow[unconsumed-event] - for the warehouse, outside the system\n"
            "service.publishes(OrderPlaced, OrderShipped)",
        ).replace(
            "@service.rpc\n", "@service.rpc  # atoll: allow[untested-handler] - tried by hand\n"
        )
    )
    result = CliRunner().invoke(cli, ["check", "badshop.app:system"])
    kinds = [line.split("[")[1].split("]")[0] for line in lines_of(result.output)]
    assert "unconsumed-event" not in kinds
    assert kinds.count("untested-handler") == 1  # refund's; cancel_order's is allowed


def test_an_allowance_names_its_kind():
    lines = ["x = 1", "# atoll: allow[untested-handler, layer-import] - why", "y = 2"]
    assert allowed(lines, 3, "layer-import")
    assert allowed(lines, 2, "untested-handler")
    assert not allowed(lines, 3, "import-time-work")
    assert not allowed(lines, 1, "layer-import")  # the line below does not count


def test_tests_named_with_tests_are_the_only_ones_read(shop):
    (shop / "elsewhere").mkdir()
    (shop / "elsewhere/test_cancel.py").write_text(CANCELLING)
    result = CliRunner().invoke(cli, ["check", "badshop.app:system", "--tests", "elsewhere"])
    untested = [line for line in lines_of(result.output) if "[untested-handler]" in line]
    assert [line.split(" handler ")[1].split(" of ")[0] for line in untested] == [
        "charge",
        "refund",
        "place_order",
    ]


def test_a_directory_is_checked_from_its_layout_alone(shop):
    result = CliRunner().invoke(cli, ["check", str(shop)])
    assert result.exit_code == 1
    assert [line.split(": [")[1].split("]")[0] for line in lines_of(result.output)] == [
        "service-internals",
        "import-failed",
        "import-time-work",
        "layer-import",
        "import-time-work",
        "import-time-work",
        "layer-import",
    ]
    assert "of service 'badshop.billing', imports badshop.orders.model" in result.output


def test_a_clean_project_exits_0(shop):
    for name in ("model.py", "domain.py", "infrastructure.py", "journal.py"):
        (shop / "badshop/orders" / name).unlink()
    for name in ("broken.py", "probe.py"):
        (shop / "badshop/billing" / name).unlink()
    application = shop / "badshop/billing/application.py"
    allowance = "# atoll: allow[unpublished-event, untested-handler] - from the bank\n"
    application.write_text(
        application.read_text()
        .replace("from badshop.orders.model import Order\n", "")
        .replace("list[Order]", "list[object]")
        .replace("@service.on(PaymentRefunded)", allowance + "@service.on(PaymentRefunded)")
    )
    orders = shop / "badshop/orders/application.py"
    orders.write_text(orders.read_text().replace(", OrderShipped)", ")"))
    (shop / "tests/test_more.py").write_text(CANCELLING)
    result = CliRunner().invoke(cli, ["check", "badshop.app:system"])
    assert result.exit_code == 0, result.output
    assert result.output == "atoll check: nothing found in system 'shop'\n"


def test_runnerly_is_clean():
    result = CliRunner().invoke(cli, ["check", "runnerly.app:system"])
    assert result.exit_code == 0, result.output
    assert result.output == "atoll check: nothing found in system 'runnerly'\n"


def test_a_target_that_is_neither_a_system_nor_a_directory_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "is neither MODULE:OBJECT nor a directory" in result.output
    result = CliRunner().invoke(cli, ["check", str(tmp_path)])
    assert result.exit_code == 2
    assert "holds no Python package" in result.output


def test_a_target_that_is_no_service_is_a_usage_error(shop):
    result = CliRunner().invoke(cli, ["check", "badshop.orders.contracts:PlaceOrder"])
    assert result.exit_code == 2
    assert "atoll check checks an atoll.Service" in result.output


def handler(name, routes=(), methods=(), message=None):
    return HandlerEntry(
        function=int,
        name=name,
        kinds=(),
        place=None,
        routes=routes,
        methods=methods,
        message=message,
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("client.get_run(7)", True),
        ('await rpc("runs.get_run", run_id=7)', True),
        ("get_runs()", False),
        ('client.get("/runs/7")', True),
        ('client.get(f"/runs/{run.id}?x=1")', True),
        ('client.get("/runs")', False),
        ("query { getRun(runId: 7) { meters } }", True),
        ("GetRun(7)", True),
    ],
)
def test_a_test_names_a_handler_by_name_method_route_or_message(text, named):
    class GetRun:
        pass

    patterns = naming_patterns(
        handler("get_run", ("GET /runs/{run_id}",), ("runs.get_run",), GetRun)
    )
    assert any(pattern.search(text) for pattern in patterns) is named


def test_a_module_whose_import_ends_the_interpreter_is_found_and_the_others_still_are(shop):
    (shop / "badshop/orders/zexit.py").write_text("import os\n\nos._exit(3)\n")
    result = CliRunner().invoke(cli, ["check", str(shop)])
    found = lines_of(result.output)
    assert (
        "badshop/orders/zexit.py:1: [import-time-work] importing badshop.orders.zexit ends "
        "the interpreter (status 3)"
    ) in found
    assert sum("[import-time-work]" in line for line in found) == 4


def test_a_system_in_a_module_of_its_own_is_checked(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "solo.py").write_text(
        "import atoll\n"
        "\n"
        "service = atoll.Service('solo')\n"
        "\n"
        "\n"
        "@service.rpc\n"
        "async def ping() -> str:\n"
        "    return 'pong'\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    forget("solo")
    result = CliRunner().invoke(cli, ["check", "solo:service"])
    forget("solo")
    assert result.exit_code == 1
    assert lines_of(result.output) == [
        "solo.py:6: [untested-handler] no test names handler ping of service 'solo' (JSON-RPC ping)"
    ]


def test_the_findings_the_reference_page_shows_are_the_bad_shop_s(shop):
    page = (Path(__file__).resolve().parents[2] / "docs/reference/check-and-graph.md").read_text()
    shown = [line for line in page.splitlines() if line.startswith("badshop/")]
    assert len(shown) == 3
    output = CliRunner().invoke(cli, ["check", "badshop.app:system"]).output.splitlines()
    assert all(line in output for line in shown)


def test_a_directory_whose_pyproject_names_its_system_is_checked_as_that_system(shop):
    expected = CliRunner().invoke(cli, ["check", "badshop.app:system"]).output
    forget("badshop")
    (shop / "pyproject.toml").write_text('[tool.atoll]\nsystem = "badshop.app:system"\n')
    result = CliRunner().invoke(cli, ["check", str(shop)])
    assert result.exit_code == 1
    assert result.output == expected


def test_a_pyproject_naming_no_module_object_is_a_usage_error(shop):
    (shop / "pyproject.toml").write_text('[tool.atoll]\nsystem = "badshop.app"\n')
    result = CliRunner().invoke(cli, ["check", str(shop)])
    assert result.exit_code == 2
    assert "[tool.atoll] system in" in result.output
    assert "write MODULE:OBJECT" in result.output


def work_at_import(root: Path, name: str, text: str) -> list[str]:
    """What importing a package ``work`` holding the module ``name`` is found doing."""
    write(root, {"pyproject.toml": "", "work/__init__.py": "", f"work/{name}.py": text})
    found = [finding for finding, _ in import_findings(project_of_directory(root))]
    return [f"{f.path}:{f.line}: [{f.kind}] {f.message}" for f in found]


def test_a_module_that_waits_at_import_is_found_at_its_first_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(import_work, "TIMEOUT", 10.0)
    found = work_at_import(tmp_path, "stuck", "import threading\n\nthreading.Event().wait()\n")
    assert found == [
        (
            "work/stuck.py:1: [import-time-work] importing work.stuck did not end within 10 s: it "
            "waits for something"
        )
    ]


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_a_process_started_at_import_is_found_and_never_started(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = f"atoll-check-{uuid.uuid4().hex}"  # in the command line of the process refused
    found = work_at_import(
        tmp_path,
        "spawner",
        "import subprocess\nimport sys\n\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}])\n",
    )
    running = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and marker.encode() in _command_line(entry)
    ]
    for pid in running:  # left by a check that let it start: ended here, and failed below
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert len(found) == 1, found
    assert found[0].startswith("work/spawner.py:4: [import-time-work] importing work.spawner ")
    assert "starts the process" in found[0]
    assert running == []


def _command_line(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:  # ended meanwhile, or not ours to read
        return b""


def test_a_file_written_at_import_is_found_and_never_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = work_at_import(
        tmp_path,
        "writer",
        "from pathlib import Path\n\nPath(__file__).with_name('written.txt').write_text('x')\n",
    )
    written = tmp_path / "work" / "written.txt"
    assert found == [
        (
            f"work/writer.py:3: [import-time-work] importing work.writer opens {str(written)!r} "
            "for writing"
        )
    ]
    assert not written.exists()


def test_tests_that_do_not_exist_are_a_usage_error_naming_them(shop):
    result = CliRunner().invoke(cli, ["check", "badshop.app:system", "--tests", "tests/nowhere"])
    assert result.exit_code == 2
    assert "--tests 'tests/nowhere': no such file or directory" in result.output


def test_the_reference_lists_every_kind_of_finding_and_a_finding_has_one_of_them():
    page = Path(__file__).resolve().parents[2] / "docs" / "reference" / "check-and-graph.md"
    listed = re.findall(r"^\| `([a-z-]+)` \|", page.read_text(), flags=re.MULTILINE)
    assert listed == list(KINDS)
    with pytest.raises(ValueError, match="'layer-imports' is no kind of finding"):
        Finding("shop/model.py", 1, "layer-imports", "what", "fix")
