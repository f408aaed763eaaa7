"""The auditors' endpoints on both databases: the latest checkpoint, and inclusion proofs
that verify offline as C2SP tlog-proof files under the ledger's key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

import sequestra.pricing  # noqa: F401  (valuation.recorded)
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.entry import leaf_hash
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.note import Ed25519Verifier
from sequestra.ledger.tlog_proof import TlogProof
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.run import Valuer
from sequestra.reports.valuation import valuation_report
from sequestra.reports.valuation_files import write_report
from sequestra.service.access.tokens import create_token
from sequestra.service.app import create_app
from tests.composed import APPLICATION, RULES
from tests.conftest import LedgerWorld
from tests.custody.conftest import Custody, custody  # noqa: F401
from tests.pricing.test_run import ScriptedVenue

ORIGIN = "test.sequestra.example/log"


def test_checkpoint_and_proofs_for_auditors(world: LedgerWorld) -> None:
    token, _ = create_token(world.engine, "auditor", "audit office", datetime.now(UTC))
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(world.engine, APPLICATION)) as client:
        missing = client.get("/api/v1/checkpoints/latest", headers=auth)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        world.ledger.append([world.note("one"), world.note("two")], world.now)
        stored, _ = create_checkpoint(world.engine, world.signer)
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


def test_valuation_report_downloads_are_reproducible(custody: Custody) -> None:  # noqa: F811
    token, _ = create_token(custody.world.engine, "ministry", "minfin", datetime.now(UTC))
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(custody.world.engine, APPLICATION)) as client:
        none_yet = client.get("/api/v1/reports/valuation", headers=auth)
        assert none_yet.status_code == 409 and none_yet.json()["error"]["code"] == "conflict"
        valuer = SigningKey.generate()
        custody.append(custody.world.enroll(valuer, ["valuer"], "valuer"))
        custody.append(custody.seize("150000000"))
        now = custody.world.now + timedelta(seconds=1)
        venues = [ScriptedVenue(v, {"BTC/USD": "95000"}, now=now) for v in ("a", "b")]
        Valuer(custody.world.engine, RULES, venues, FixedRate(Decimal(500)), valuer).revalue(
            now_utc=now
        )
        report = valuation_report(custody.world.engine)
        for name in ("json", "csv", "xlsx", "pdf"):
            answer = client.get(f"/api/v1/reports/valuation?format={name}", headers=auth)
            assert answer.status_code == 200 and answer.content == write_report(report, name)
        bad = client.get("/api/v1/reports/valuation?format=doc", headers=auth)
        assert bad.status_code == 422 and "error" in bad.json()
