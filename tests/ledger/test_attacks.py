"""History cannot be rewritten by whoever runs the database.

An attacker with write access to the database (and, where said, a leaked officer key or the
ledger key itself) rewrites the ledger as well as it can be done: `tests.attacker` re-chains
the entries, recomputes the tree, deletes the checkpoints and rebuilds the read models. Each
scenario, on SQLite and PostgreSQL, then meets what is kept outside the database: the
witness's cosigned checkpoint (verify with the trust policy fails, naming what it can), the
signer's own record (the signer refuses and records the fork alarm), the witness itself
(refuses a checkpoint of the rewritten tree: a fork alarm), and the offline auditor with the
policy (fails closed). The honest path stays green.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from sequestra.errors import EXIT_INTEGRITY, EXIT_OK
from sequestra.ledger.checkpoints import create_checkpoint, publish
from sequestra.ledger.export import export_bundle
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import GENESIS_KIND, KEY_REVOKED
from sequestra.ledger.note import (
    CosignatureSigner,
    Ed25519Verifier,
    format_verifier_key,
    sign_note,
    split_note,
)
from sequestra.ledger.policy import TrustPolicy, parse_policy
from sequestra.ledger.signer import CheckpointSigner, ForkDetected, SignerStore
from sequestra.ledger.timefmt import format_timestamp
from sequestra.ledger.trust import gather_trusted_state
from sequestra.ledger.verify import VerifyResult, verify_ledger
from sequestra.ledger.witness import Witness, WitnessState
from sequestra.service.access.tokens import create_token
from sequestra.service.app import create_app
from sequestra.service.trust import ServiceTrust
from tests.attacker import Row, delete_last_entry, rewrite_history, switch_off_protection
from tests.composed import APPLICATION, RULES
from tests.conftest import LedgerWorld
from tests.service.test_witness_app import serving

ORIGIN = "test.sequestra.example/log"
WITNESS = "audit.example/witness"
AUDIT_TIMEOUT_S = 120


@dataclass
class Defended:
    """A ledger whose checkpoint the audit office's witness cosigned, and what is kept
    outside the database: the policy, the witness's state, the signer's record."""

    world: LedgerWorld
    witness: Witness
    url: str
    policy: TrustPolicy
    policy_file: Path
    mallory: SigningKey  # an officer whose key leaked and was revoked

    @property
    def signer(self) -> CheckpointSigner:
        return CheckpointSigner(
            self.world.ledger_key, SignerStore(self.world.signer_state), self.policy
        )

    def verify(self) -> VerifyResult:
        trust = gather_trusted_state(self.policy)
        return verify_ledger(self.world.engine, RULES, trust=trust, workers=1)

    def checkpoint(self) -> None:
        stored, _ = create_checkpoint(self.world.engine, self.signer)
        publication = publish(self.world.engine, stored, self.signer)
        assert publication.published, publication


@pytest.fixture
def defended(world: LedgerWorld, tmp_path: Path) -> Iterator[Defended]:
    key = SigningKey.generate()
    logs = {ORIGIN: [Ed25519Verifier(ORIGIN, world.ledger_key.public_key_raw)]}
    witness = Witness(WITNESS, key.private_key, logs, WitnessState(tmp_path / "witness"))
    mallory = SigningKey.generate()
    with serving(witness) as url:
        text_ = (
            f"log {format_verifier_key(ORIGIN, 0x01, world.ledger_key.public_key_raw)}\n"
            f"witness {WITNESS} {witness.verifier_key} {url}\n"
            f"quorum {WITNESS}\n"
        )
        policy_file = tmp_path / "policy.txt"
        policy_file.write_text(text_, encoding="utf-8")
        defended = Defended(
            world, witness, url, parse_policy(text_, "policy"), policy_file, mallory
        )
        now = world.now
        world.ledger.append([world.enroll(mallory, ["treasury-officer"], "mallory")], now)
        world.ledger.append([world.note(f"memo {i}") for i in range(4)], now)  # seq 3..6
        revoke = {"issuer": mallory.issuer, "reason": "key leaked"}
        world.ledger.append([world.admin_statement(KEY_REVOKED, revoke)], now)  # seq 7
        world.ledger.append([world.note("after the revocation")], now)  # seq 8
        defended.checkpoint()
        assert defended.verify().ok
        yield defended


def _fails(defended: Defended, says: str) -> VerifyResult:
    result = defended.verify()
    assert not result.ok and says in str(result.reason), result.to_json()
    return result


def _signer_refuses(defended: Defended) -> None:
    with pytest.raises(ForkDetected):
        create_checkpoint(defended.world.engine, defended.signer)
    alarms = defended.signer.store.alarms()
    assert alarms and alarms[-1]["kind"] == "fork"


def _witness_refuses(defended: Defended, tmp_path: Path) -> None:
    """The attacker signs the rewritten tree with the ledger key and a record of its own:
    the witness refuses it, and that refusal is a fork alarm."""
    forged = CheckpointSigner(
        defended.world.ledger_key, SignerStore(tmp_path / "forged.json"), None
    )
    stored, _ = create_checkpoint(defended.world.engine, forged, adopt=True)
    pushing = CheckpointSigner(defended.world.ledger_key, forged.store, defended.policy)
    with pytest.raises(ForkDetected, match="refused") as fork:
        publish(defended.world.engine, stored, pushing)
    assert WITNESS in fork.value.evidence["refusals"]
    assert forged.store.alarms()[-1]["kind"] == "witness_refused"


def _audit_bundle(defended: Defended, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Export the database as it stands and audit it offline with the policy."""
    bundle = tmp_path / "as-is"
    export_bundle(defended.world.engine, bundle)
    command = [sys.executable, "-m", "sequestra.audit.cli", "bundle", str(bundle)]
    command += ["--policy", str(defended.policy_file)]
    return subprocess.run(command, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S)


def _auditor_fails_closed(defended: Defended, tmp_path: Path) -> None:
    """The operator exports the rewritten ledger with a checkpoint it signed itself."""
    forged = CheckpointSigner(defended.world.ledger_key, SignerStore(tmp_path / "own.json"))
    create_checkpoint(defended.world.engine, forged, adopt=True)
    bundle = tmp_path / "bundle"
    export_bundle(defended.world.engine, bundle)
    command = [
        sys.executable,
        "-m",
        "sequestra.audit.cli",
        "bundle",
        str(bundle),
        "--policy",
        str(defended.policy_file),
    ]
    audit = subprocess.run(command, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S)
    assert audit.returncode == EXIT_INTEGRITY, audit.stdout + audit.stderr
    assert "quorum" in audit.stdout


def _server_refuses(defended: Defended) -> dict[str, str]:
    """The server with the policy: the audit report fails, and so does the audit page's
    verification (which asks the witness)."""
    engine = defended.world.engine
    report = APPLICATION.reports.judged_by(defended.policy).render(engine, "audit", "json")
    facts = json.loads(report.data)["facts"]
    assert facts["verification"] == "FAILED", facts
    token, _ = create_token(engine, "auditor", "desk", datetime.now(UTC))
    trust = ServiceTrust(defended.policy)
    with TestClient(create_app(engine, APPLICATION, trust=trust)) as client:
        client.post("/login", data={"token": token})
        page = client.get("/audit", params={"verify": "true"}).text
    assert "Verification FAILED" in page and "Verified:" not in page
    return facts


def _remove(kind: str, index: int = 0):  # type: ignore[no-untyped-def]
    def change(rows: list[Row]) -> list[Row]:
        found = [i for i, row in enumerate(rows) if row.statement.kind == kind]
        del rows[found[index]]
        return rows

    return change


def test_dropping_a_statement_from_the_middle(defended: Defended, tmp_path: Path) -> None:
    rewrite_history(defended.world.engine, _remove("note.recorded", 1))
    assert verify_ledger(defended.world.engine, RULES, workers=1).ok  # self-consistent
    result = _fails(defended, "does not extend the checkpoint of 9 that witness")
    assert result.trust is not None and result.trust.witnessed_size == 9
    assert "not pinned" in _server_refuses(defended)["reason"]  # the checkpoints are gone
    _signer_refuses(defended)
    _witness_refuses(defended, tmp_path)
    _auditor_fails_closed(defended, tmp_path)


def test_removing_a_revocation_to_use_the_revoked_key(defended: Defended, tmp_path: Path) -> None:
    world = defended.world

    def change(rows: list[Row]) -> list[Row]:
        rows = [row for row in rows if row.statement.kind != KEY_REVOKED]
        later = format_timestamp(world.now)
        for text_ in ("pay the courier", "close the file"):
            statement = world.note(text_, key=defended.mallory)
            rows.append(Row(statement, later))
        return rows

    rewrite_history(world.engine, change)
    _fails(defended, "does not extend")
    _server_refuses(defended)
    _signer_refuses(defended)
    _auditor_fails_closed(defended, tmp_path)


def test_swapping_two_entries(defended: Defended) -> None:
    def change(rows: list[Row]) -> list[Row]:
        rows[3], rows[4] = rows[4], rows[3]
        return rows

    rewrite_history(defended.world.engine, change)
    _fails(defended, "does not extend")
    _server_refuses(defended)
    _signer_refuses(defended)


def test_back_dating_every_entry(defended: Defended) -> None:
    def change(rows: list[Row]) -> list[Row]:
        for row in rows:
            row.recorded_at = "2020-01-01T00:00:00.000000Z"
        return rows

    rewrite_history(defended.world.engine, change)
    plain = verify_ledger(defended.world.engine, RULES, workers=1)  # caught even unpinned
    assert not plain.ok and plain.first_bad_seq == 0 and "before the statement" in str(plain.reason)
    assert _server_refuses(defended)["first_bad_seq"] == "0"
    _signer_refuses(defended)


def test_recorded_after_the_witness_cosigned(defended: Defended) -> None:
    """An entry that says it was recorded after the cosignature that covers it: the
    operator's clock put it in the future, and the witness's time says otherwise."""
    world = defended.world
    future = datetime.now(UTC) + timedelta(days=2)
    world.ledger.append([world.note("from the future")], future)
    defended.checkpoint()
    result = _fails(defended, "after witness")
    assert result.first_bad_seq == 9
    _server_refuses(defended)


def test_a_new_genesis_signed_with_the_ledger_key(defended: Defended, tmp_path: Path) -> None:
    world = defended.world
    accomplice = SigningKey.generate()

    def change(rows: list[Row]) -> list[Row]:
        body = {
            "origin": ORIGIN,
            "ledger_key": world.ledger_key.public_key_b64,
            "admins": [accomplice.public_key_b64],
        }
        genesis = RULES.sign(world.ledger_key, GENESIS_KIND, body, world.now)
        return [Row(genesis, format_timestamp(world.now))]

    rewrite_history(world.engine, change)
    assert verify_ledger(world.engine, RULES, world.ledger_key.public_key_raw, workers=1).ok
    result = _fails(defended, "its 1 entries are not the first 1 of that checkpoint")
    assert result.first_bad_seq == 0
    _server_refuses(defended)
    with pytest.raises(ForkDetected, match="genesis"):
        create_checkpoint(world.engine, defended.signer)
    _auditor_fails_closed(defended, tmp_path)


def test_a_copied_cosignature(defended: Defended) -> None:
    world = defended.world
    world.ledger.append([world.note("more")], world.now)
    stored, _ = create_checkpoint(
        world.engine, CheckpointSigner(world.ledger_key, defended.signer.store)
    )
    with world.engine.begin() as connection:  # the real line of size 9, on the checkpoint of 10
        line = connection.execute(
            text("SELECT line FROM ledger_cosignature WHERE size = 9")
        ).scalar()
        connection.execute(
            text(
                "INSERT INTO ledger_cosignature (size, witness, line, received_at)"
                " VALUES (:size, :witness, :line, :at)"
            ),
            {"size": stored.size, "witness": WITNESS, "line": line, "at": "2026-01-01T00:00:00Z"},
        )
    _fails(defended, f"a cosignature named {WITNESS} is invalid")
    assert f"a cosignature named {WITNESS} is invalid" in _server_refuses(defended)["reason"]
    # The server shows it for what it is: the API, the audit page and the audit report.
    shown = _served(defended, stored.size)
    assert shown["latest"]["cosigned_by"] == [] and shown["latest"]["published"] is False
    assert [(r["witness"], r["status"]) for r in shown["latest"]["rejected"]] == [
        (WITNESS, "invalid")
    ]
    assert shown["earlier"]["cosigned_by"] == [WITNESS] and shown["earlier"]["published"]
    latest_row, earlier_row = shown["report"]["tables"]["checkpoints"][::-1][:2]
    assert latest_row["cosigned_by"] == "" and latest_row["quorum"] == "not met"
    assert latest_row["rejected"].startswith(f"{WITNESS}:") and "invalid" in latest_row["rejected"]
    assert earlier_row["cosigned_by"] == WITNESS and earlier_row["quorum"] == "met"
    assert "no valid cosignature" in shown["page"] and f"{WITNESS} (" in shown["page"]
    witnessed = shown["page"].split("<h2>Witnessed</h2>")[1].split("</div>")[0]
    assert "9 <span" in witnessed and "1 entries not yet witnessed" in witnessed


def _served(defended: Defended, size: int) -> dict[str, Any]:
    """What the server shows an auditor with the policy: the latest checkpoint and the one
    before it (API), the audit report (JSON) and the audit page."""
    engine = defended.world.engine
    token, _ = create_token(engine, "auditor", "desk", datetime.now(UTC))
    trust = ServiceTrust(defended.policy)
    with TestClient(create_app(engine, APPLICATION, trust=trust)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        latest = client.get("/api/v1/checkpoints/latest", headers=headers).json()
        items = client.get("/api/v1/checkpoints", headers=headers).json()["items"]
        report = client.get("/api/v1/reports/audit", headers=headers).json()
        client.post("/login", data={"token": token})
        page = client.get("/audit").text
    assert latest["size"] == size and items[0]["size"] == size
    earlier = items[1] if len(items) > 1 else None
    return {"latest": latest, "earlier": earlier, "report": report, "page": page}


def test_a_corrupted_cosignature(defended: Defended, tmp_path: Path) -> None:
    world = defended.world
    switch_off_protection(world.engine)
    with world.engine.begin() as connection:
        line = connection.execute(
            text("SELECT line FROM ledger_cosignature WHERE size = 9")
        ).scalar()
        broken = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
        connection.execute(text("UPDATE ledger_cosignature SET line = :line"), {"line": broken})
    _fails(defended, "is invalid under the trust policy")
    assert "invalid under the trust policy" in _server_refuses(defended)["reason"]
    audit = _audit_bundle(defended, tmp_path)
    assert audit.returncode == EXIT_INTEGRITY and "is invalid under the policy" in audit.stdout


def test_deleting_the_last_entry_names_its_seq(defended: Defended) -> None:
    last = delete_last_entry(defended.world.engine)
    result = defended.verify()
    assert not result.ok and result.first_bad_seq == last, result.to_json()
    plain = verify_ledger(defended.world.engine, RULES, workers=1)  # the stored checkpoint
    assert not plain.ok and plain.first_bad_seq == last
    _server_refuses(defended)


def test_the_honest_path_stays_green(defended: Defended, tmp_path: Path) -> None:
    world = defended.world
    world.ledger.append([world.note("honest")], world.now)
    defended.checkpoint()
    result = defended.verify()
    assert result.ok and result.trust is not None and result.trust.witnessed_size == 10
    assert result.to_json()["summary"] == (
        "pinned by 1 witness(es) at size 10; 0 entries not yet witnessed"
    )
    world.ledger.append([world.note("not yet witnessed")], world.now)
    later = defended.verify()
    assert later.ok and later.trust is not None and later.trust.unwitnessed == 1
    report = APPLICATION.reports.judged_by(defended.policy).render(world.engine, "audit", "json")
    facts = json.loads(report.data)["facts"]
    assert facts["verification"] == "passed", facts
    assert facts["pinned"] == f"by {WITNESS} at size 10; 1 entries not yet witnessed"
    assert facts["latest_checkpoint_quorum"] == "met"
    token, _ = create_token(world.engine, "auditor", "desk", datetime.now(UTC))
    trust = ServiceTrust(defended.policy)
    with TestClient(create_app(world.engine, APPLICATION, trust=trust)) as client:
        client.post("/login", data={"token": token})
        page = client.get("/audit", params={"verify": "true"}).text
    assert "Verified: all 11 entries check out; pinned by 1 witness(es) at size 10;" in page
    bundle = tmp_path / "bundle"
    export_bundle(world.engine, bundle)
    command = [
        sys.executable,
        "-m",
        "sequestra.audit.cli",
        "bundle",
        str(bundle),
        "--policy",
        str(defended.policy_file),
        "--json",
    ]
    audit = subprocess.run(command, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S)
    assert audit.returncode == EXIT_OK, audit.stdout + audit.stderr
    assert defended.signer.store.alarms() == []


def test_a_witness_the_policy_does_not_name_is_listed_not_counted(
    defended: Defended, tmp_path: Path
) -> None:
    """Another party's witness cosigned too: its line is shown as unknown, never as a
    cosignature, and it neither fails nor helps anything (the policy decides what counts)."""
    world = defended.world
    stored, _ = create_checkpoint(world.engine, defended.signer)  # the latest, size 9
    other = CosignatureSigner("other.example/witness", SigningKey.generate().private_key)
    text_, _ = split_note(stored.note)
    line = sign_note(text_, [other]).decode().splitlines()[-1]
    with world.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO ledger_cosignature (size, witness, line, received_at)"
                " VALUES (:size, :witness, :line, :at)"
            ),
            {
                "size": stored.size,
                "witness": other.name,
                "line": line,
                "at": "2026-01-01T00:00:00Z",
            },
        )
    assert defended.verify().ok
    report = APPLICATION.reports.judged_by(defended.policy).render(world.engine, "audit", "json")
    assert json.loads(report.data)["facts"]["verification"] == "passed"
    shown = _served(defended, stored.size)
    assert shown["latest"]["cosigned_by"] == [WITNESS] and shown["latest"]["published"]
    assert [(r["witness"], r["status"]) for r in shown["latest"]["rejected"]] == [
        (other.name, "unknown")
    ]
    audit = _audit_bundle(defended, tmp_path)
    assert audit.returncode == EXIT_OK, audit.stdout + audit.stderr
    assert f"{other.name} is unknown under the policy" in audit.stdout
