import msgspec

from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.responses import send_bytes, send_empty, send_json, send_problem


class Recorder:
    def __init__(self):
        self.messages = []

    async def __call__(self, message):
        self.messages.append(message)

    @property
    def start(self):
        return self.messages[0]

    @property
    def headers(self):
        return [tuple(pair) for pair in self.start["headers"]]


async def test_send_json_sends_a_start_and_a_body_message():
    send = Recorder()
    await send_json(send, 200, b'{"id":1}')
    assert [message["type"] for message in send.messages] == [
        "http.response.start",
        "http.response.body",
    ]
    assert send.start["status"] == 200
    assert send.messages[1]["body"] == b'{"id":1}'
    assert not send.messages[1].get("more_body", False)


async def test_send_json_declares_type_and_length_then_extra_headers():
    send = Recorder()
    await send_json(send, 201, b"[1,2]", [(b"location", b"/runs/1")])
    assert send.headers == [
        (b"content-type", b"application/json"),
        (b"content-length", b"5"),
        (b"location", b"/runs/1"),
    ]


async def test_send_problem_sends_the_error_as_problem_json_with_its_headers():
    send = Recorder()
    await send_problem(send, HTTPError(405, "use GET", headers=[(b"allow", b"GET")]), "/runs")
    body = send.messages[1]["body"]
    assert send.start["status"] == 405
    assert send.headers == [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"allow", b"GET"),
    ]
    assert msgspec.json.decode(body)["instance"] == "/runs"


async def test_send_bytes_sends_the_given_media_type():
    send = Recorder()
    await send_bytes(send, 200, b"<p>hi</p>", b"text/html; charset=utf-8", [(b"x-a", b"1")])
    assert send.headers == [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", b"9"),
        (b"x-a", b"1"),
    ]
    assert send.messages[1]["body"] == b"<p>hi</p>"


async def test_send_empty_204_carries_no_content_length():
    send = Recorder()
    await send_empty(send, 204, [(b"x-a", b"1")])
    assert send.start["status"] == 204
    assert send.headers == [(b"x-a", b"1")]
    assert send.messages[1]["body"] == b""


async def test_send_empty_with_another_status_declares_a_zero_length():
    send = Recorder()
    await send_empty(send, 202)
    assert send.headers == [(b"content-length", b"0")]
