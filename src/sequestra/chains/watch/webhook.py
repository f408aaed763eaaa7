"""Pushing alerts to webhooks (an on-call system, a chat room, the security office).

Each new alert batch is POSTed as JSON `{"alerts": [...]}` to every configured URL, with an
HMAC-SHA256 of the body in `X-Sequestra-Signature: sha256=<hex>` when the target has a
secret (read from a file, never from configuration). A delivery is tried a bounded number of
times with backoff; a target that stays down is logged, never fatal: the alert is already
in the ledger and `sequestra alerts --open` shows it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

log = logging.getLogger("sequestra.watch.webhook")

ATTEMPTS_MAX: Final = 3
BACKOFF_S: Final = 0.5
BACKOFF_S_MAX: Final = 5.0
SIGNATURE_HEADER: Final = "X-Sequestra-Signature"


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    timeout_s: float = 5.0
    secret_file: Path | None = None


@dataclass
class Delivery:
    url: str
    ok: bool
    attempts: int
    error: str | None = None


@dataclass
class WebhookSink:
    """Delivers alert batches to every target; `deliveries` keeps what happened."""

    targets: Sequence[WebhookTarget]
    attempts_max: int = ATTEMPTS_MAX
    sleep: Callable[[float], None] = time.sleep
    deliveries: list[Delivery] = field(default_factory=list)

    def __call__(self, alerts: list[dict[str, Any]]) -> None:
        body = json.dumps({"alerts": alerts}, sort_keys=True, ensure_ascii=False).encode()
        for target in self.targets:
            self.deliveries.append(self._deliver(target, body))

    def _deliver(self, target: WebhookTarget, body: bytes) -> Delivery:
        headers = {"Content-Type": "application/json"}
        if target.secret_file is not None:
            secret = target.secret_file.read_bytes().strip()
            digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        error = "not attempted"
        for attempt in range(1, self.attempts_max + 1):
            try:
                with httpx.Client(timeout=target.timeout_s, follow_redirects=False) as client:
                    response = client.post(target.url, content=body, headers=headers)
                if response.status_code < 300:
                    return Delivery(target.url, True, attempt)
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"
            if attempt < self.attempts_max:
                self.sleep(min(BACKOFF_S * 2 ** (attempt - 1), BACKOFF_S_MAX))
        log.error(
            "webhook %s: alerts not delivered after %d attempts: %s",
            target.url,
            self.attempts_max,
            error,
        )
        return Delivery(target.url, False, self.attempts_max, error)
