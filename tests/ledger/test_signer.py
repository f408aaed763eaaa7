"""The signer's own record: written atomically and privately, read back exactly; a corrupt,
foreign or unreadable record is refused, never replaced; one signer at a time; fork alarms
survive until resolved with a note."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from sequestra.ledger import signer as signer_module
from sequestra.ledger.signer import (
    Head,
    SignerBusy,
    SignerState,
    SignerStateError,
    SignerStore,
)

STATE = SignerState(
    "signer.sequestra.example/log",
    "signer.sequestra.example/log+01020304+AQ==",
    bytes(range(32)),
    Head(7, bytes(32)),
    "2026-12-07T10:00:00.000000Z",
)


def test_the_record_is_written_privately_and_read_back(tmp_path: Path) -> None:
    store = SignerStore(tmp_path / "keys" / "ledger.key.state.json")
    assert store.load() is None  # before the first checkpoint
    state = STATE.with_witness("w.example/w", Head(5, b"\x01" * 32))
    store.save(state)
    assert store.load() == state
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert [p.name for p in store.path.parent.iterdir()] == [store.path.name]  # no temp left
    # A witness's head only ever grows.
    assert state.with_witness("w.example/w", Head(3, b"\x02" * 32)) is state


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "expected the fields"),
        (json.dumps({**STATE.to_json(), "version": 2}).encode(), "version 2"),
        (json.dumps({**STATE.to_json(), "genesis_leaf": "zz"}).encode(), "not hex"),
        (json.dumps({**STATE.to_json(), "signed": {"size": -1, "root": ""}}).encode(), "malformed"),
        (json.dumps({**STATE.to_json(), "signed": {"size": 1, "root": "!!"}}).encode(), "base64"),
        (
            json.dumps({**STATE.to_json(), "signed": {"size": 1, "root": "AAAA"}}).encode(),
            "32 bytes",
        ),
        (json.dumps({**STATE.to_json(), "witnesses": []}).encode(), "must be an object"),
        (b" " * (signer_module.STATE_BYTES_MAX + 1), "larger than"),
    ],
)
def test_a_corrupt_record_is_refused(tmp_path: Path, content: bytes, says: str) -> None:
    store = SignerStore(tmp_path / "state.json")
    store.path.write_bytes(content)
    with pytest.raises(SignerStateError, match=says):
        store.load()
    assert store.path.read_bytes() == content  # never replaced behind the operator's back


def test_a_failed_write_leaves_the_old_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SignerStore(tmp_path / "state.json")
    store.save(STATE)

    def refuse(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(signer_module.os, "replace", refuse)
    with pytest.raises(SignerStateError, match="write failed"):
        store.save(STATE.with_witness("w.example/w", Head(9, bytes(32))))
    assert store.load() == STATE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def _hold(path: str, ready: object, release: object) -> None:
    with SignerStore(Path(path)).locked():
        ready.set()  # type: ignore[attr-defined]
        release.wait(30)  # type: ignore[attr-defined]


def test_one_signer_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(str(path), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        monkeypatch.setattr(signer_module, "LOCK_WAIT_S_MAX", 0.0)
        with pytest.raises(SignerBusy), SignerStore(path).locked():
            pass
    finally:
        release.set()
        holder.join(60)
    with SignerStore(path).locked():  # free again once the other signer is done
        pass


def test_alarms_stay_open_until_resolved_with_a_note(tmp_path: Path) -> None:
    store = SignerStore(tmp_path / "state.json")
    assert store.alarms() == [] and store.resolve_alarms("nothing", "t") == 0
    store.record_alarm({"at": "2026-12-07T01:00:00Z", "kind": "fork", "reason": "rolled back"})
    with store.alarms_path.open("ab") as handle:
        handle.write(b"garbage\n")  # a damaged line is still an alarm, never dropped
    store.record_alarm({"at": "2026-12-07T02:00:00Z", "kind": "witness_refused"})
    alarms = store.alarms()
    assert [a.get("kind") for a in alarms] == ["fork", None, "witness_refused"]
    assert "not JSON" in alarms[1]["reason"]
    assert stat.S_IMODE(store.alarms_path.stat().st_mode) == 0o600
    assert store.resolve_alarms("restored from backup", "2026-12-07T03:00:00Z") == 3
    assert store.alarms() == []
    resolved = store.alarms_path.with_name(store.alarms_path.name + ".resolved")
    kept = [json.loads(line) for line in resolved.read_text().splitlines()]
    assert [k["resolution"] for k in kept] == ["restored from backup"] * 3
