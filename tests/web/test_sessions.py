"""Page sessions end on the server, on SQLite and PostgreSQL: a copied cookie fails after
logout, the idle and absolute limits (judged by an injected clock), a revoked token, a
forged or unknown id; the id never stands in the database in clear."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, MetaData, select, update

from sequestra.service.access.sessions import SessionLimits
from sequestra.service.access.tokens import create_token, hash_token, revoke_token
from sequestra.service.app import create_app
from sequestra.service.web.session import COOKIE_NAME, PageSessions
from tests.composed import APPLICATION
from tests.conftest import LedgerWorld

LIMITS = SessionLimits(idle_s_max=30 * 60, absolute_s_max=12 * 3600, touch_interval_s=60)
PAGE = "/cases"


@dataclass
class Clock:
    """The time the app reads; a test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Desk:
    engine: Engine
    token: str
    clock: Clock
    client: TestClient

    def login(self, client: TestClient | None = None) -> str:
        """Sign in with the token; returns the session id the cookie carries."""
        response = (client or self.client).post(
            "/login", data={"token": self.token}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"] == "/"
        session_id = (client or self.client).cookies[COOKIE_NAME]
        assert isinstance(session_id, str)
        return session_id

    def fresh_client(self, session_id: str) -> TestClient:
        client = TestClient(self.client.app)
        client.cookies.set(COOKIE_NAME, session_id)
        return client

    def sessions(self) -> list[Any]:
        table = MetaData()
        table.reflect(self.engine, only=["web_session"])
        with self.engine.connect() as connection:
            return list(connection.execute(select(table.tables["web_session"])))


def _status(client: TestClient, path: str = PAGE) -> tuple[int, str | None]:
    response = client.get(path, follow_redirects=False)
    return response.status_code, response.headers.get("location")


@pytest.fixture
def desk(world: LedgerWorld) -> Iterator[Desk]:
    clock = Clock(datetime(2026, 12, 15, 9, 0, tzinfo=UTC))
    token, _ = create_token(world.engine, "auditor", "audit office", clock.now)
    app = create_app(world.engine, APPLICATION, page_sessions=PageSessions(LIMITS, clock))
    with TestClient(app) as client:
        yield Desk(world.engine, token, clock, client)


ENDED = (303, "/login?ended=true")


def test_a_copied_cookie_fails_after_logout(desk: Desk) -> None:
    session_id = desk.login()
    copy = desk.fresh_client(session_id)
    assert _status(copy) == (200, None)  # the copy works while the session is open
    response = desk.client.post("/logout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert _status(copy) == ENDED
    assert _status(desk.fresh_client(session_id)) == ENDED
    (row,) = desk.sessions()
    assert row.end_reason == "logout" and row.ended_at is not None
    notice = desk.client.get("/login", params={"ended": "true"}).text
    assert "Your session has ended" in notice and "logout" not in notice


def test_logging_in_again_ends_the_browsers_earlier_session(desk: Desk) -> None:
    first = desk.login()
    second = desk.login()
    assert first != second
    assert _status(desk.fresh_client(first)) == ENDED
    assert _status(desk.fresh_client(second)) == (200, None)


def test_an_idle_session_ends(desk: Desk) -> None:
    session_id = desk.login()
    desk.clock.advance(LIMITS.idle_s_max - 1)
    assert _status(desk.client) == (200, None)  # and the use is recorded
    desk.clock.advance(LIMITS.idle_s_max - 1)  # idle counted from the last use
    assert _status(desk.client) == (200, None)
    desk.clock.advance(LIMITS.idle_s_max)
    status, location = _status(desk.client)
    assert (status, location) == (303, "/login?ended=idle")
    assert _status(desk.fresh_client(session_id)) == (303, "/login?ended=idle")  # stays so
    (row,) = desk.sessions()
    assert row.end_reason == "idle"
    notice = desk.client.get("/login", params={"ended": "idle"}).text
    assert "no page was opened for 30 minutes" in notice


def test_a_session_ends_at_the_absolute_limit_however_busy(desk: Desk) -> None:
    desk.login()
    step_s = LIMITS.idle_s_max // 2
    for _ in range(LIMITS.absolute_s_max // step_s - 1):
        desk.clock.advance(step_s)
        assert _status(desk.client) == (200, None)
    desk.clock.advance(step_s)
    assert _status(desk.client) == (303, "/login?ended=expired")
    (row,) = desk.sessions()
    assert row.end_reason == "expired"
    notice = desk.client.get("/login", params={"ended": "expired"}).text
    assert "a session lasts at most 12 hours" in notice


def test_the_last_use_is_written_at_most_once_a_minute(desk: Desk) -> None:
    desk.login()
    (opened,) = desk.sessions()
    desk.clock.advance(LIMITS.touch_interval_s - 1)
    assert _status(desk.client) == (200, None)
    (row,) = desk.sessions()
    assert row.last_seen_at == opened.last_seen_at
    desk.clock.advance(1)
    assert _status(desk.client) == (200, None)
    (row,) = desk.sessions()
    assert row.last_seen_at > opened.last_seen_at


def test_a_revoked_tokens_sessions_end(desk: Desk) -> None:
    session_id = desk.login()
    other = desk.login(TestClient(desk.client.app))  # a second browser
    revoke_token(desk.engine, hash_token(desk.token)[:12], desk.clock.now)
    assert [row.end_reason for row in desk.sessions()] == ["revoked", "revoked"]
    for copy in (desk.fresh_client(session_id), desk.fresh_client(other)):
        assert _status(copy) == ENDED
    response = desk.client.post("/login", data={"token": desk.token}, follow_redirects=False)
    assert response.status_code == 401


def test_a_token_revoked_behind_the_sessions_back_ends_it(desk: Desk) -> None:
    """Revocation written without `revoke_token` (an older server, a hand edit) still ends
    the session: every check reads the token's state."""
    session_id = desk.login()
    table = MetaData()
    table.reflect(desk.engine, only=["api_token"])
    tokens = table.tables["api_token"]
    with desk.engine.begin() as connection:
        connection.execute(
            update(tokens)
            .where(tokens.c.token_hash == hash_token(desk.token))
            .values(revoked_at="2026-12-15T09:00:00.000000Z")
        )
    assert _status(desk.fresh_client(session_id)) == ENDED
    (row,) = desk.sessions()
    assert row.end_reason == "revoked"


def test_a_forged_or_unknown_session_id_fails(desk: Desk) -> None:
    session_id = desk.login()
    (row,) = desk.sessions()
    flipped = session_id[:-1] + ("0" if session_id[-1] != "0" else "1")
    forged = (
        "0" * 64,
        flipped,
        session_id.upper(),
        session_id[:-1],
        session_id + "0",
        row.session_hash,  # what the database holds opens nothing
        desk.token,  # the old cookie held the token: no longer a session
    )
    for cookie in forged:
        assert _status(desk.fresh_client(cookie)) == ENDED, cookie
    assert _status(desk.fresh_client(session_id)) == (200, None)


def test_the_session_id_is_never_stored_in_clear(desk: Desk) -> None:
    session_id = desk.login()
    assert desk.token not in session_id and len(session_id) == 64
    (row,) = desk.sessions()
    assert row.session_hash == hashlib.sha256(session_id.encode()).hexdigest()
    assert row.token_hash == hash_token(desk.token) and row.role == "auditor"
    every_table = MetaData()
    every_table.reflect(desk.engine)
    with desk.engine.connect() as connection:
        for table in every_table.sorted_tables:
            for stored in connection.execute(select(table)):
                text = repr(tuple(stored))
                assert session_id not in text and desk.token not in text, table.name


def test_session_limits_are_checked() -> None:
    for idle_s, absolute_s, touch_s in ((60, 3600, 60), (7200, 3600, 60), (600, 3600, 0)):
        with pytest.raises(ValueError, match="session limits"):
            SessionLimits(idle_s_max=idle_s, absolute_s_max=absolute_s, touch_interval_s=touch_s)
