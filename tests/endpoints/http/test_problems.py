import msgspec
import pytest

from atoll.endpoints.http.problems import PROBLEM_JSON, HTTPError, problem_body, reason
from atoll.errors import AtollError


def test_the_media_type_is_problem_json():
    assert PROBLEM_JSON == "application/problem+json"


def test_http_error_is_not_an_atoll_error():
    assert not issubclass(HTTPError, AtollError)
    assert issubclass(HTTPError, Exception)


def test_the_title_defaults_to_the_reason_phrase():
    assert HTTPError(404, "no route").title == "Not Found"


def test_a_given_title_replaces_the_reason_phrase():
    assert HTTPError(409, "taken", title="email taken").title == "email taken"


@pytest.mark.parametrize(
    ("status", "title"), [(499, "Client Error"), (599, "Server Error"), (299, "Unknown Status")]
)
def test_an_unnamed_status_gets_the_title_of_its_class(status, title):
    assert reason(status) == title


def test_http_error_keeps_its_status_detail_headers_and_extra():
    error = HTTPError(405, "use GET", headers=[(b"allow", b"GET")], extra={"correlation_id": "c-1"})
    assert (error.status, error.detail, str(error)) == (405, "use GET", "use GET")
    assert error.headers == ((b"allow", b"GET"),)
    assert error.extra == {"correlation_id": "c-1"}


def test_http_errors_do_not_share_their_extra_members():
    first, second = HTTPError(400, "a"), HTTPError(400, "b")
    first.extra["correlation_id"] = "c-1"
    assert second.extra == {}


def test_http_error_repr_shows_status_and_detail():
    assert repr(HTTPError(404, "no route")) == "HTTPError(404, 'no route')"


def test_problem_body_holds_the_rfc_9457_members_in_order():
    body = problem_body(404, "Not Found", "no route matches /x")
    assert body == (
        b'{"type":"about:blank","title":"Not Found","status":404,"detail":"no route matches /x"}'
    )


def test_problem_body_adds_instance_and_extension_members():
    document = msgspec.json.decode(
        problem_body(500, "Internal Server Error", "failed", "/runs/1", correlation_id="c-1")
    )
    assert document["instance"] == "/runs/1"
    assert document["correlation_id"] == "c-1"


def test_a_type_extension_replaces_about_blank():
    document = msgspec.json.decode(problem_body(409, "t", "d", type="urn:atoll:email-taken"))
    assert document["type"] == "urn:atoll:email-taken"


def test_an_error_encodes_itself_with_its_extra_members():
    error = HTTPError(413, "too large", extra={"limit": 10})
    assert msgspec.json.decode(error.body("/upload")) == {
        "type": "about:blank",
        "title": error.title,
        "status": 413,
        "detail": "too large",
        "instance": "/upload",
        "limit": 10,
    }
