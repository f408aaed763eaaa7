"""The composition root: one rule set, complete, the same from every entry point.

A rule set is a value: the ledger's kinds with their body models and the projections that read
them. Nothing registers itself when imported, so what verify checks cannot depend on which
modules a process imported. Each entry point (the CLI, the API app, a scheduler job, verify
itself, the offline auditor) is run in a fresh interpreter against a ledger whose custody
read model was edited by hand: each names the same rule set, and every one that checks read
models finds the edit.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from sequestra.composition import compose_rule_set
from sequestra.config.scheduler import SchedulerSettings
from sequestra.custody import service
from sequestra.custody.state import CUSTODY_KINDS
from sequestra.errors import EXIT_INTEGRITY, EXIT_OK
from sequestra.fund.sales import FUND_KINDS
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.errors import RuleSetError
from sequestra.ledger.kinds import BodyModel
from sequestra.ledger.rebuild import rebuild_projections
from sequestra.ledger.roles import AUTHORITY, REGISTRY_KINDS, authority_digest
from sequestra.ledger.rules import ProjectionSpec, RuleSet
from sequestra.ledger.store import Ledger
from sequestra.ledger.verify import verify_ledger
from sequestra.service.access.tokens import create_token
from sequestra.service.scheduler import default_jobs
from tests.composed import RULES
from tests.conftest import LedgerWorld

SRC = Path(__file__).resolve().parents[1] / "src" / "sequestra"
SUBPROCESS_TIMEOUT_S = 300


# --- the rule set is complete, and only a complete one can be made -------------------------


def test_composed_kinds_are_exactly_the_authority_table() -> None:
    assert set(RULES.body_models) == set(AUTHORITY)
    for kind in AUTHORITY:
        assert issubclass(RULES.body_models[kind], BodyModel)
        owner = RULES.projection_of(kind)
        if owner is None:
            assert kind in RULES.unprojected, f"{kind} is neither read nor named as unread"
        else:
            assert owner in RULES.projection_names()
    assert {RULES.projection_of(kind) for kind in REGISTRY_KINDS} == {"ledger_key"}
    assert {RULES.projection_of(kind) for kind in CUSTODY_KINDS | FUND_KINDS} == {"custody"}
    assert RULES.projection_names() == ("ledger_key", "custody", "chain_watch", "pricing")
    summary = RULES.summary()
    assert summary.kinds == len(AUTHORITY) and summary.authority == authority_digest()


def _variant(**changes: object) -> RuleSet:
    fields: dict[str, object] = {
        "name": "variant",
        "body_models": dict(RULES.body_models),
        "projections": RULES.projections,
        "unprojected": RULES.unprojected,
    }
    fields.update(changes)
    return RuleSet(**fields)  # type: ignore[arg-type]


def test_a_partial_or_ambiguous_rule_set_cannot_be_made() -> None:
    without_sales = {k: m for k, m in RULES.body_models.items() if k != "sale.executed"}
    with pytest.raises(RuleSetError, match=r"without a body model \['sale.executed'\]"):
        _variant(body_models=without_sales)
    with pytest.raises(RuleSetError, match="outside the authority table"):
        _variant(body_models={**RULES.body_models, "no.such": BodyModel})
    twice = (*RULES.projections, ProjectionSpec("again", frozenset({"case.opened"}), object))
    with pytest.raises(RuleSetError, match=r"'case\.opened' is read by both custody and again"):
        _variant(projections=twice)
    with pytest.raises(RuleSetError, match="both read and unread"):
        _variant(unprojected=RULES.unprojected | {"case.opened"})
    with pytest.raises(RuleSetError, match=r"neither read .* \['note.recorded'\]"):
        _variant(unprojected=frozenset())
    custody_only = tuple(spec for spec in RULES.projections if spec.name == "custody")
    with pytest.raises(RuleSetError, match=r"observation\.recorded"):
        _variant(projections=custody_only)


def test_the_same_rules_compose_to_the_same_digest_and_others_differ() -> None:
    assert compose_rule_set().digest == RULES.digest
    assert _variant().digest != RULES.digest  # the name is part of the rules


def test_append_verify_and_rebuild_take_nothing_but_a_rule_set(world: LedgerWorld) -> None:
    with pytest.raises(TypeError, match="expected a RuleSet"):
        verify_ledger(world.engine, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a RuleSet"):
        Ledger(world.engine, object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a RuleSet"):
        rebuild_projections(world.engine, None)  # type: ignore[arg-type]


def test_no_module_registers_anything_when_imported() -> None:
    """No `register_*` function and no module-level registry to fill."""
    offending = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("register"):
                offending.append(f"{path.name}: def {node.name}")
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                called = ast.unparse(node.value.func)
                if called.split(".")[-1].startswith("register"):
                    offending.append(f"{path.name}: {called}() at import")
    assert offending == []


IMPORTED_ALONE = (
    "sequestra.ledger.verify",
    "sequestra.pricing.run",
    "sequestra.fund.report",
    "sequestra.fund.emergency",
    "sequestra.reports.catalog",
    "sequestra.service.jobs",
    "sequestra.cli.main",
)


@pytest.mark.parametrize("module", IMPORTED_ALONE)
def test_the_rule_set_does_not_depend_on_what_was_imported_first(module: str) -> None:
    script = (
        f"import {module}\nfrom sequestra.composition import rule_set\nprint(rule_set().digest)\n"
    )
    assert _python(script).strip() == RULES.digest


# --- every entry point, in a fresh interpreter, finds a hand-edited read model ----------------


@pytest.fixture
def edited(world: LedgerWorld) -> LedgerWorld:
    """A ledger with a case whose `custody_case.agency` was changed by hand."""
    now = datetime.now(UTC)
    service.record(
        world.engine,
        RULES,
        world.officer,
        [("case.opened", {"case": "AFM-2025-0001", "agency": "AFM", "legal_basis": "Art. 1"})],
        now,
    )
    assert verify_ledger(world.engine, RULES, workers=1).ok
    with world.engine.begin() as connection:
        connection.execute(text("UPDATE custody_case SET agency = 'someone else'"))
    return world


def _python(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_verify_called_as_a_library(edited: LedgerWorld) -> None:
    script = (
        "import json, sys\n"
        "from sequestra.ledger.db import create_ledger_engine\n"
        "from sequestra.ledger.verify import verify_ledger\n"
        "from sequestra.composition import rule_set\n"
        "print(json.dumps(verify_ledger(create_ledger_engine(sys.argv[1]), rule_set(),"
        " workers=1).to_json()))\n"
    )
    verdict = json.loads(_python(script, edited.url))
    assert verdict["ok"] is False and "projection custody differs" in verdict["reason"]
    assert verdict["rules"] == RULES.summary().to_json()


def test_the_command_line(edited: LedgerWorld) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sequestra.cli", "--database-url", edited.url, "verify", "--json"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == EXIT_INTEGRITY, result.stderr
    verdict = json.loads(result.stdout)
    assert "projection custody differs" in verdict["reason"]
    assert verdict["rules"] == RULES.summary().to_json()


def test_the_api_app(edited: LedgerWorld) -> None:
    token, _ = create_token(edited.engine, "auditor", "composition test", datetime.now(UTC))
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from sequestra.composition import application\n"
        "from sequestra.ledger.db import create_ledger_engine\n"
        "from sequestra.service.app import create_app\n"
        "app = create_app(create_ledger_engine(sys.argv[1]), application())\n"
        "with TestClient(app) as client:\n"
        "    client.post('/login', data={'token': sys.argv[2]})\n"
        "    page = client.get('/audit', params={'verify': 'true'})\n"
        "    assert page.status_code == 200, page.status_code\n"
        "    print(page.text)\n"
    )
    page = _python(script, edited.url, token)
    assert "Verification FAILED" in page and "projection custody differs" in page
    assert RULES.digest in page


def test_the_scheduler_verify_job(edited: LedgerWorld) -> None:
    script = (
        "import sys\n"
        "from sequestra.service.jobs import JobEnvironment, configure, run_verify\n"
        "from sequestra.errors import IntegrityFailure\n"
        "configure(JobEnvironment(None, sys.argv[1]))\n"
        "try:\n"
        "    run_verify()\n"
        "except IntegrityFailure as error:\n"
        "    print('FAILED', error)\n"
        "else:\n"
        "    print('OK')\n"
    )
    out = _python(script, edited.url)
    assert out.startswith("FAILED") and "projection custody differs" in out


def test_every_scheduler_job_uses_the_composed_rules() -> None:
    """Each job's module, imported alone, takes the rules from the composition."""
    for name, spec in default_jobs(SchedulerSettings()).items():
        module = spec.reference().split(":")[0]
        script = f"import {module} as jobs\nprint(jobs.rule_set().digest)\n"
        assert _python(script).strip() == RULES.digest, name


def test_the_offline_auditor_names_the_same_authority_table(
    edited: LedgerWorld, tmp_path: Path
) -> None:
    create_checkpoint(edited.engine, edited.signer)
    bundle = tmp_path / "bundle"
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "sequestra.cli",
            "--database-url",
            edited.url,
            "export",
            "--out",
            str(bundle),
        ],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    assert export.returncode == EXIT_OK, export.stderr
    audit = subprocess.run(
        [sys.executable, "-m", "sequestra.audit.cli", "bundle", str(bundle), "--json"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    verdict = json.loads(audit.stdout)
    # A bundle carries entries, not read models: the auditor checks the authority table.
    assert verdict["rules"]["authority"] == RULES.summary().authority
    assert "sequestra verify" in verdict["rules"]["checked"]
