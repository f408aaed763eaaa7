"""Alert webhooks against a local HTTP server: signed bodies, retries, a target that is down."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from sequestra.chains.watch.webhook import SIGNATURE_HEADER, WebhookSink, WebhookTarget


class Receiver(BaseHTTPRequestHandler):
    failures_left = 0
    received: ClassVar[list[tuple[bytes, str | None]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Receiver.failures_left > 0:
            Receiver.failures_left -= 1
            self.send_response(503)
        else:
            Receiver.received.append((body, self.headers.get(SIGNATURE_HEADER)))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.failures_left, Receiver.received = 0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_alerts_arrive_signed_after_a_retry(receiver: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"s3cret\n")
    Receiver.failures_left = 1
    waits: list[float] = []
    sink = WebhookSink([WebhookTarget(receiver, 2.0, secret)], sleep=waits.append)
    sink([{"alert": "unexpected_outflow", "seq": 7}])
    ((body, signature),) = Receiver.received
    assert json.loads(body) == {"alerts": [{"alert": "unexpected_outflow", "seq": 7}]}
    assert signature == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sink.deliveries[0].ok and sink.deliveries[0].attempts == 2 and waits == [0.5]


def test_a_target_that_stays_down_is_reported_not_raised(receiver: str) -> None:
    Receiver.failures_left = 10
    down = "http://127.0.0.1:9/hook"  # the discard port: nothing listens
    sink = WebhookSink(
        [WebhookTarget(down, 0.5), WebhookTarget(receiver, 2.0)], sleep=lambda _: None
    )
    sink([{"alert": "pending"}])
    first, second = sink.deliveries
    assert not first.ok and first.attempts == 3 and first.error
    assert not second.ok and second.error == "HTTP 503"
    assert Receiver.received == []
