"""Files for auditors and the ministry: the latest signed checkpoint, inclusion proofs and
report downloads.

Proofs are C2SP tlog-proof files, the same bytes `sequestra prove` writes, so anyone holding
the ledger's verifier key checks them with standard transparency-log tooling.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response

from sequestra.errors import InputRefused, NotFound
from sequestra.ledger import tree
from sequestra.ledger.db import read_transaction
from sequestra.ledger.queries import StoredCheckpoint, checkpoint_page, get_checkpoint
from sequestra.ledger.tlog_proof import TlogProof
from sequestra.service.api import models
from sequestra.service.api.deps import Reader
from sequestra.service.deps import ApplicationDep, EngineDep, PageDep, TrustDep
from sequestra.service.trust import ServiceTrust

SEQ_MAX: Final = (1 << 63) - 1
PROOF_MEDIA_TYPE: Final = "text/plain; charset=utf-8"

# Errors are documented per endpoint: those answering files answer errors in JSON too.
proofs_router = APIRouter(prefix="/api/v1")


class CheckpointOut(models.CheckpointSummaryOut):
    note: str  # the signed note, cosignature lines included (as stored: judge them yourself)


def judged_checkpoint(trust: ServiceTrust, stored: StoredCheckpoint) -> dict[str, Any]:
    """A stored checkpoint as the API shows it: cosignatures judged by the trust policy."""
    judged = trust.judge(stored.note)
    return {
        "size": stored.size,
        "root": stored.root_hash.hex(),
        "created_at": stored.created_at,
        "cosigned_by": list(judged.cosigned_by),
        "rejected": [c.to_json() for c in judged.others],
        "published": judged.quorum_met,
        "policy": judged.checked,
        "untrusted": judged.untrusted,
    }


@proofs_router.get(
    "/checkpoints", response_model=models.CheckpointPage, responses=models.ERROR_RESPONSES
)
def checkpoints(
    engine: EngineDep, trust: TrustDep, _caller: Reader, page: PageDep
) -> models.CheckpointPage:
    """Signed checkpoints, largest (newest) first, with the witnesses whose cosignatures are
    valid under the server's trust policy; the signed note of one: /checkpoints/latest, or
    the tlog-proof of any entry."""
    rows = checkpoint_page(engine, page.offset, page.limit + 1)
    next_offset = page.offset + page.limit if len(rows) > page.limit else None
    return models.CheckpointPage(
        items=[
            models.CheckpointSummaryOut(**judged_checkpoint(trust, row))
            for row in rows[: page.limit]
        ],
        next_offset=next_offset,
    )


@proofs_router.get(
    "/checkpoints/latest", response_model=CheckpointOut, responses=models.ERROR_RESPONSES
)
def latest_checkpoint(engine: EngineDep, trust: TrustDep, _caller: Reader) -> CheckpointOut:
    with read_transaction(engine) as connection:
        stored = get_checkpoint(connection)
    if stored is None:
        raise NotFound("checkpoint: none signed yet; run `sequestra checkpoint`")
    return CheckpointOut(**judged_checkpoint(trust, stored), note=stored.note.decode("utf-8"))


@proofs_router.get(
    "/proofs/{seq}",
    response_class=PlainTextResponse,
    responses=models.FILE_ERROR_RESPONSES,
)
def inclusion_proof(
    engine: EngineDep,
    _caller: Reader,
    seq: Annotated[int, Path(ge=0, le=SEQ_MAX)],
    size: Annotated[int | None, Query(ge=1, le=SEQ_MAX)] = None,
) -> PlainTextResponse:
    """The tlog-proof of entry `seq` in the checkpoint of `size` (default: the latest)."""
    with read_transaction(engine) as connection:
        stored = get_checkpoint(connection, size)
        if stored is None:
            raise NotFound(f"checkpoint: none of size {size or 'any'}")
        if seq >= stored.size:
            raise InputRefused(f"seq: expected below {stored.size}, got {seq}")
        hashes = tree.inclusion_proof(connection, seq, stored.size)
    proof = TlogProof(index=seq, hashes=tuple(hashes), checkpoint=stored.note)
    return PlainTextResponse(proof.format().decode("utf-8"), media_type=PROOF_MEDIA_TYPE)


ReportFormat = Literal["json", "csv", "xlsx", "pdf"]
ReportKind = Literal["valuation", "exposure", "sales", "audit"]


@proofs_router.get(
    "/reports/{kind}", response_class=Response, responses=models.FILE_ERROR_RESPONSES
)
def report_download(
    engine: EngineDep,
    application: ApplicationDep,
    _caller: Reader,
    kind: ReportKind,
    report_format: Annotated[ReportFormat, Query(alias="format")] = "json",
    size: Annotated[int | None, Query(ge=1, le=SEQ_MAX)] = None,
) -> Response:
    """A report of the ledger's first `size` entries (default: all), as a file named after
    its checkpoint; the same prefix gives the same bytes."""
    report = application.reports.render(engine, kind, report_format, size)
    return Response(
        report.data,
        media_type=report.media_type,
        headers={"Content-Disposition": f'attachment; filename="{report.filename}"'},
    )
