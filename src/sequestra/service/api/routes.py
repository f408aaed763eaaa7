"""The API's endpoints: thin, each one service call and its translation to a response."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Final, TypeVar

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from sequestra.chains.watch.queries import LIST_LIMIT_MAX, list_alerts
from sequestra.custody.service import (
    InputError,
    asset_registry,
    case_json,
    get_case,
    holding_history,
    list_cases,
    list_holdings,
    resolve_asset,
)
from sequestra.fund.service import list_sales
from sequestra.ledger.errors import AppendRefused, StatementError
from sequestra.ledger.statement import parse_signed_statement
from sequestra.service.api import models
from sequestra.service.api.deps import (
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    EngineDep,
    LedgerDep,
    PageDep,
    Reader,
    StatementPoster,
)
from sequestra.service.api.errors import ApiError
from sequestra.service.api.queries import VALUATIONS_READ_MAX, list_valuations

PREFIX: Final = "/api/v1"
TEXT_PARAMETER_LENGTH_MAX: Final = 128
SEQ_MAX: Final = (1 << 63) - 1
HOLDING_ID_MAX: Final = 10**18 - 1

router = APIRouter(prefix=PREFIX)
Item = TypeVar("Item")
Text = Annotated[str | None, Query(min_length=1, max_length=TEXT_PARAMETER_LENGTH_MAX)]
OpenOnly = Annotated[bool, Query(alias="open", description="Only those still open.")]


def window(items: Sequence[Item], page: PageDep) -> tuple[list[Item], int | None]:
    """The page's slice of `items` and the offset of the next page (None at the end)."""
    end = page.offset + page.limit
    return list(items[page.offset : end]), end if len(items) > end else None


def _invalid(error: InputError) -> ApiError:
    return ApiError(422, "invalid_input", str(error))


@router.get("/cases", response_model=models.CasePage)
def cases(
    engine: EngineDep, _caller: Reader, page: PageDep, open_only: OpenOnly = False
) -> models.CasePage:
    items, next_offset = window(list_cases(engine, open_only=open_only), page)
    return models.CasePage(
        items=[models.CaseOut(**case_json(case)) for case in items], next_offset=next_offset
    )


@router.get("/cases/{case_id}", response_model=models.CaseOut)
def case(
    engine: EngineDep,
    _caller: Reader,
    case_id: Annotated[str, Path(min_length=1, max_length=TEXT_PARAMETER_LENGTH_MAX)],
) -> models.CaseOut:
    found = get_case(engine, case_id)
    if found is None:
        raise ApiError(404, "not_found", f"case: no case numbered {case_id!r:.80}")
    return models.CaseOut(**case_json(found))


@router.get("/holdings", response_model=models.HoldingPage)
def holdings(
    engine: EngineDep,
    _caller: Reader,
    page: PageDep,
    case: Text = None,
    asset: Text = None,
) -> models.HoldingPage:
    try:
        chosen = None if asset is None else resolve_asset(asset_registry(engine), asset)
    except InputError as error:
        raise _invalid(error) from None
    items, next_offset = window(list_holdings(engine, case_id=case, asset=chosen), page)
    return models.HoldingPage(
        items=[models.HoldingOut(**holding.to_json()) for holding in items],
        next_offset=next_offset,
    )


@router.get("/holdings/{holding_id}/history", response_model=models.HistoryPage)
def history(
    engine: EngineDep,
    _caller: Reader,
    page: PageDep,
    holding_id: Annotated[int, Path(ge=1, le=HOLDING_ID_MAX)],
) -> models.HistoryPage:
    found = holding_history(engine, holding_id)
    if found is None:
        raise ApiError(404, "not_found", f"holding: no holding H{holding_id}")
    holding, lines = found
    items, next_offset = window(lines, page)
    return models.HistoryPage(
        holding=models.HoldingOut(**holding.to_json()),
        items=[models.HistoryLineOut(**line.to_json(holding.asset)) for line in items],
        next_offset=next_offset,
    )


@router.get("/alerts", response_model=models.AlertPage)
def alerts(
    engine: EngineDep, _caller: Reader, page: PageDep, open_only: OpenOnly = False
) -> models.AlertPage:
    # One more than the page tells whether another follows; the watcher's reads are bounded.
    read_limit = min(page.offset + page.limit + 1, LIST_LIMIT_MAX)
    items, next_offset = window(list_alerts(engine, open_only=open_only, limit=read_limit), page)
    return models.AlertPage(
        items=[models.AlertOut(**alert) for alert in items], next_offset=next_offset
    )


@router.get("/valuations", response_model=models.ValuationPage)
def valuations(engine: EngineDep, _caller: Reader, page: PageDep) -> models.ValuationPage:
    if page.offset >= VALUATIONS_READ_MAX:
        return models.ValuationPage(items=[], next_offset=None)
    read_limit = min(page.limit + 1, VALUATIONS_READ_MAX - page.offset)
    rows = list_valuations(engine, page.offset, read_limit)
    next_offset = page.offset + page.limit if len(rows) > page.limit else None
    return models.ValuationPage(
        items=[models.ValuationOut(**row) for row in rows[: page.limit]], next_offset=next_offset
    )


@router.get("/sales", response_model=models.SalePage)
def sales(engine: EngineDep, _caller: Reader, page: PageDep, state: Text = None) -> models.SalePage:
    try:
        found = list_sales(engine, state)
    except InputError as error:
        raise _invalid(error) from None
    items, next_offset = window(found, page)
    return models.SalePage(
        items=[models.SaleOut(**sale.summary_json()) for sale in items], next_offset=next_offset
    )


@router.get("/entries", response_model=models.EntryPage)
def entries(
    ledger: LedgerDep,
    _caller: Reader,
    from_seq: Annotated[int, Query(ge=0, le=SEQ_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX)] = PAGE_LIMIT_DEFAULT,
) -> models.EntryPage:
    stored = ledger.read(from_seq, limit + 1)
    items = [
        models.EntryOut(
            seq=entry.seq,
            recorded_at=entry.recorded_at,
            kind=entry.kind,
            issuer=entry.issuer,
            leaf_hash=entry.leaf_hash.hex(),
            entry=entry.to_json(),
        )
        for entry in stored[:limit]
    ]
    next_from_seq = stored[limit].seq if len(stored) > limit else None
    return models.EntryPage(items=items, next_from_seq=next_from_seq)


@router.post("/statements", status_code=201, response_model=models.ReceiptOut)
async def post_statement(
    request: Request, ledger: LedgerDep, _caller: StatementPoster
) -> models.ReceiptOut:
    """Append one signed statement (as `sequestra sign` prints it). The ledger checks the
    signature and the signing key's authority; a refusal is 422 with the reason."""
    body = await request.body()
    try:
        statement = parse_signed_statement(body)
        (receipt,) = await run_in_threadpool(ledger.append, [statement])
    except StatementError as error:
        raise ApiError(422, "statement_invalid", str(error)) from None
    except AppendRefused as error:
        raise ApiError(422, "append_refused", error.reason) from None
    return models.ReceiptOut(**receipt.to_json())
