import pytest

from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.requests import ClientDisconnectedError, Request, require_json, route_path
from atoll.errors import AtollError


def scope(headers=(), query=b"", method="POST", path="/runs", root_path=""):
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "query_string": query,
        "headers": list(headers),
    }


def feed(*chunks, disconnect=False):
    """A receive channel that delivers ``chunks`` as one body, then optionally a disconnect."""
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        for message in messages:
            message["more_body"] = True
        messages.append({"type": "http.disconnect"})
    received = []

    async def receive():
        message = messages.pop(0)
        received.append(message)
        return message

    receive.received = received
    return receive


def request(headers=(), *chunks, **kwargs):
    return Request(scope(headers, **kwargs), feed(*chunks))


# --- what the scope says ------------------------------------------------------------------


def test_method_and_path_come_from_the_scope():
    req = request(method="DELETE", path="/runs/1")
    assert (req.method, req.path) == ("DELETE", "/runs/1")


def test_query_keeps_every_value_and_blank_ones():
    req = request(query=b"a=1&a=2&b=&c=%C3%A9t%C3%A9+x")
    assert req.query == {"a": ["1", "2"], "b": [""], "c": ["été x"]}


def test_query_is_empty_without_a_query_string():
    assert request().query == {}
    assert Request({"type": "http", "headers": []}, feed(b"")).query == {}


def test_query_is_parsed_once():
    req = request(query=b"a=1")
    assert req.query is req.query


def test_headers_are_a_dict_of_lower_case_names_where_the_last_wins():
    req = request([(b"X-Token", b"a"), (b"x-token", b"b"), (b"accept", b"*/*")])
    assert req.headers == {"x-token": "b", "accept": "*/*"}
    assert req.headers is req.headers


def test_header_returns_the_first_raw_value_or_none():
    req = request([(b"x-token", b"a"), (b"x-token", b"b")])
    assert req.header(b"x-token") == b"a"
    assert req.header(b"accept") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"application/json", "application/json"),
        (b"Application/JSON; charset=utf-8", "application/json"),
        (b" text/plain ;q=1", "text/plain"),
    ],
)
def test_content_type_is_the_lower_case_media_type_without_parameters(value, expected):
    assert request([(b"content-type", value)]).content_type == expected


def test_content_type_is_empty_when_not_given():
    assert request().content_type == ""


# --- route_path -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("root_path", "path", "expected"),
    [
        ("", "/runs", "/runs"),
        ("/api", "/api/runs", "/runs"),
        ("/api", "/api", "/"),
        ("/api", "/runs", "/runs"),
        ("/api", "/apis/x", "/apis/x"),
    ],
)
def test_route_path_is_the_path_below_root_path(root_path, path, expected):
    assert route_path(scope(path=path, root_path=root_path)) == expected


def test_route_path_without_a_root_path_key_is_the_path():
    assert route_path({"path": "/runs"}) == "/runs"


# --- body -----------------------------------------------------------------------------------


async def test_body_returns_a_single_chunk():
    assert await request([(b"content-length", b"5")], b"hello").body(10) == b"hello"


async def test_body_joins_chunks():
    assert await request((), b"he", b"", b"llo").body(10) == b"hello"


async def test_body_is_read_once_and_returned_again():
    req = request((), b"hello")
    assert await req.body(10) is await req.body(10)


async def test_body_of_exactly_the_limit_is_accepted():
    assert await request([(b"content-length", b"5")], b"hel", b"lo").body(5) == b"hello"


async def test_a_content_length_over_the_limit_is_refused_before_reading():
    req = request([(b"content-length", b"11")], b"x" * 11)
    with pytest.raises(HTTPError) as caught:
        await req.body(10)
    assert caught.value.status == 413
    assert caught.value.detail == (
        "the body is 11 bytes (by its Content-Length); the server accepts at most 10 bytes; "
        "raise --server-max-body to allow more"
    )
    assert (b"connection", b"close") in caught.value.headers
    assert req.receive.received == []


async def test_a_body_without_content_length_is_refused_once_past_the_limit():
    req = Request(scope(), feed(b"x" * 6, b"x" * 6, b"x" * 6))
    with pytest.raises(HTTPError) as caught:
        await req.body(10)
    assert caught.value.status == 413
    assert "the server accepts at most 10 bytes; raise --server-max-body" in caught.value.detail
    assert len(req.receive.received) == 2


async def test_a_first_chunk_past_the_limit_is_refused():
    with pytest.raises(HTTPError) as caught:
        await request((), b"x" * 11).body(10)
    assert caught.value.status == 413


@pytest.mark.parametrize("value", [b"abc", b"+5", b" 5", b"5_0", b"", b"-1", "٣".encode()])
async def test_an_unparseable_content_length_is_a_400(value):
    with pytest.raises(HTTPError) as caught:
        await request([(b"content-length", value)], b"hello").body(10)
    assert caught.value.status == 400
    assert "is not a number of bytes" in caught.value.detail


async def test_more_bytes_than_content_length_is_a_400():
    with pytest.raises(HTTPError) as caught:
        await request([(b"content-length", b"3")], b"he", b"llo").body(10)
    assert caught.value.status == 400
    assert caught.value.detail.startswith("body longer than Content-Length")


async def test_more_bytes_than_content_length_in_one_chunk_is_a_400():
    with pytest.raises(HTTPError) as caught:
        await request([(b"content-length", b"3")], b"hello").body(10)
    assert caught.value.status == 400


async def test_more_bytes_than_content_length_and_the_limit_is_a_413():
    with pytest.raises(HTTPError) as caught:
        await request([(b"content-length", b"3")], b"he", b"llo" * 5).body(10)
    assert caught.value.status == 413


async def test_fewer_bytes_than_content_length_is_a_400():
    with pytest.raises(HTTPError) as caught:
        await request([(b"content-length", b"8")], b"hel", b"lo").body(10)
    assert caught.value.status == 400
    assert caught.value.detail.startswith("body shorter than Content-Length: 5 bytes")


async def test_a_disconnect_before_the_body_raises_client_disconnected():
    req = Request(scope(), feed(disconnect=True))
    with pytest.raises(ClientDisconnectedError):
        await req.body(10)


async def test_a_disconnect_mid_body_raises_client_disconnected():
    req = Request(scope(), feed(b"he", disconnect=True))
    with pytest.raises(ClientDisconnectedError, match="after sending 2 bytes"):
        await req.body(10)


def test_client_disconnected_is_not_an_atoll_error():
    assert not issubclass(ClientDisconnectedError, AtollError)


# --- require_json ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "media_type",
    [b"application/json", b"application/json; charset=utf-8", b"application/merge-patch+json"],
)
def test_require_json_accepts_json_media_types(media_type):
    require_json(request([(b"content-type", media_type), (b"content-length", b"2")]))


@pytest.mark.parametrize("media_type", [b"text/plain", b"application/xml", b"text/x+json"])
def test_require_json_refuses_other_media_types_with_415(media_type):
    with pytest.raises(HTTPError) as caught:
        require_json(request([(b"content-type", media_type), (b"content-length", b"2")]))
    assert caught.value.status == 415
    assert caught.value.detail == (
        f"the body has Content-Type {media_type.decode()}; "
        "send it as application/json (or an application/*+json type)"
    )
    assert caught.value.headers == ((b"accept", b"application/json"),)


@pytest.mark.parametrize("headers", [[], [(b"content-length", b"0")]])
def test_require_json_accepts_no_content_type_without_a_body(headers):
    require_json(request(headers))


@pytest.mark.parametrize(
    "headers", [[(b"content-length", b"2")], [(b"transfer-encoding", b"chunked")]]
)
def test_require_json_refuses_a_body_without_content_type(headers):
    with pytest.raises(HTTPError) as caught:
        require_json(request(headers))
    assert caught.value.status == 415
    assert caught.value.detail.startswith("the body has no Content-Type; send it as")


async def test_the_first_content_type_and_content_length_are_the_ones_read():
    req = request(
        [
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"9"),
        ],
        b"{}",
    )
    assert req.content_type == "application/json"
    assert await req.body(100) == b"{}"
    assert req.content_type == "application/json"
