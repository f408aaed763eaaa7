"""The auditors' endpoints on both databases: the latest checkpoint, and inclusion proofs
that verify offline as C2SP tlog-proof files under the ledger's key."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.entry import leaf_hash
from sequestra.ledger.note import Ed25519Verifier
from sequestra.ledger.tlog_proof import TlogProof
from sequestra.service.api import create_api_app
from sequestra.service.api.tokens import create_token
from tests.conftest import LedgerWorld

ORIGIN = "test.sequestra.example/log"


def test_checkpoint_and_proofs_for_auditors(world: LedgerWorld) -> None:
    token, _ = create_token(world.engine, "auditor", "audit office", datetime.now(UTC))
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_api_app(world.engine)) as client:
        missing = client.get("/api/v1/checkpoints/latest", headers=auth)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_checkpoint"
        world.ledger.append([world.note("one"), world.note("two")], world.now)
        stored, _ = create_checkpoint(world.engine, world.ledger_key)
        latest = client.get("/api/v1/checkpoints/latest", headers=auth).json()
        assert (latest["size"], latest["root"]) == (stored.size, stored.root_hash.hex())
        answer = client.get("/api/v1/proofs/2", headers=auth)
        assert answer.status_code == 200
        proof = TlogProof.parse(answer.content)
        entry = bytes(world.ledger.read(2, 1)[0].entry)
        verifier = Ed25519Verifier(ORIGIN, world.ledger_key.public_key_raw)
        checkpoint, _ = proof.verify(leaf_hash(entry), ORIGIN, [verifier])
        assert checkpoint.size == stored.size
        beyond = client.get(f"/api/v1/proofs/{stored.size}", headers=auth)
        assert beyond.status_code == 422 and "expected below" in beyond.json()["error"]["message"]
        assert client.get("/api/v1/proofs/1").status_code == 401
