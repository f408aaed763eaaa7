"""checkpoint, prove, consistency, export and keys vkey from the command line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from typer.testing import CliRunner

from sequestra.errors import EXIT_CONFLICT, EXIT_INTEGRITY
from sequestra.ledger import merkle
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.note import open_note, verifier_from_key
from sequestra.ledger.tlog_proof import TlogProof
from tests.attacker import Row, rewrite_history
from tests.cli.conftest import run

ROOT = Path(__file__).resolve().parents[2]
KEYS = ROOT / "keys-example"
ORIGIN = "cli.sequestra.example/log"


def test_checkpoint_prove_consistency_export(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    run(
        runner,
        url,
        "init",
        "--origin",
        ORIGIN,
        "--admin",
        str(KEYS / "admin.pub"),
        "--ledger-key",
        str(KEYS / "ledger.key"),
    )
    ledger_key = [
        "--key",
        str(KEYS / "ledger.key"),
        "--signer-state",
        str(tmp_path / "signer.json"),
    ]
    assert "no ledger key" in run(runner, url, "checkpoint", code=2)
    first = json.loads(run(runner, url, "checkpoint", *ledger_key, "--json"))
    assert first["size"] == 1 and first["created"]
    assert not first["published"] and first["policy"] is False  # no policy: nothing pins it
    notes = "".join(
        run(
            runner,
            url,
            "sign",
            "--kind",
            "note.recorded",
            "--body",
            "-",
            "--key",
            str(KEYS / "admin.key"),
            stdin=json.dumps({"text": f"n{i}"}),
        )
        for i in range(6)
    )
    run(runner, url, "append", "-", stdin=notes)
    second = json.loads(run(runner, url, "checkpoint", *ledger_key, "--json"))
    assert second["size"] == 7 and second["created"]
    assert not json.loads(run(runner, url, "checkpoint", *ledger_key, "--json"))["created"]
    proof_file = tmp_path / "entry3.tlog-proof"
    run(runner, url, "prove", "3", "--out", str(proof_file))
    entry = run(runner, url, "log", "--from", "3", "--limit", "1", "--raw").encode().rstrip(b"\n")
    vkey = run(runner, url, "keys", "vkey", str(KEYS / "ledger.pub"), "--name", ORIGIN).strip()
    proof = TlogProof.parse(proof_file.read_bytes())
    checkpoint, _ = proof.verify(merkle.hash_leaf(entry), ORIGIN, [verifier_from_key(vkey)])
    assert (proof.index, checkpoint.size) == (3, 7)
    hashes = [base64.b64decode(line) for line in run(runner, url, "consistency", "1", "7").split()]
    merkle.verify_consistency(
        1, 7, hashes, bytes.fromhex(first["root"]), bytes.fromhex(second["root"])
    )
    assert "entry 9" in run(runner, url, "prove", "9", "--out", str(tmp_path / "x"), code=2)
    assert "OLD NEW" in run(runner, url, "consistency", "7", "1", code=2)
    out = tmp_path / "bundle"
    summary = json.loads(run(runner, url, "export", "--out", str(out), "--json"))
    assert summary["size"] == 7
    note = open_note((out / "checkpoint").read_bytes(), [verifier_from_key(vkey)])
    assert Checkpoint.parse(note.text).root_hash.hex() == second["root"]
    assert "exists" in run(runner, url, "export", "--out", str(out), code=EXIT_CONFLICT)
    assert "--name" in run(
        runner, url, "keys", "vkey", str(KEYS / "ledger.pub"), "--name", "bad name", code=2
    )


def test_a_rewritten_history_is_a_fork_alarm_until_resolved(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    run(
        runner,
        url,
        "init",
        "--origin",
        ORIGIN,
        "--admin",
        str(KEYS / "admin.pub"),
        "--ledger-key",
        str(KEYS / "ledger.key"),
    )
    notes = "".join(
        run(
            runner,
            url,
            "sign",
            "--kind",
            "note.recorded",
            "--body",
            "-",
            "--key",
            str(KEYS / "admin.key"),
            stdin=json.dumps({"text": f"n{i}"}),
        )
        for i in range(3)
    )
    run(runner, url, "append", "-", stdin=notes)
    state_file = tmp_path / "signer.json"
    signer = ["--key", str(KEYS / "ledger.key"), "--signer-state", str(state_file)]
    alarms = ["--signer-state", str(state_file)]
    run(runner, url, "checkpoint", *signer)
    assert "no open fork alarm" in run(runner, url, "fork-alarms", "list", *alarms)

    def swap(rows: list[Row]) -> list[Row]:
        rows[1], rows[2] = rows[2], rows[1]
        return rows

    engine = create_ledger_engine(url)
    try:
        rewrite_history(engine, swap)  # same size, another root
    finally:
        engine.dispose()
    refused = json.loads(run(runner, url, "checkpoint", *signer, "--json", code=EXIT_INTEGRITY))
    assert refused["fork"] and refused["evidence"]["size"] == 4
    listed = json.loads(run(runner, url, "fork-alarms", "list", *alarms, "--json", code=1))
    assert listed["open"] == 1 and listed["alarms"][0]["kind"] == "fork"
    assert "FORK ALARM" in run(runner, url, "checkpoint", *signer, code=EXIT_INTEGRITY)
    assert "--note" in run(runner, url, "fork-alarms", "resolve", *alarms, "--note", " ", code=2)
    resolved = run(runner, url, "fork-alarms", "resolve", *alarms, "--note", "restored", "--json")
    assert json.loads(resolved) == {"resolved": 2, "note": "restored"}
    assert "no open fork alarm" in run(runner, url, "fork-alarms", "list", *alarms)
    kept = (tmp_path / "signer.json.alarms.jsonl.resolved").read_text().splitlines()
    assert [json.loads(line)["resolution"] for line in kept] == ["restored", "restored"]
