"""The API's endpoints: thin, each one service call and its translation to a response."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from sequestra.chains.watch.queries import (
    LIST_LIMIT_MAX,
    OBSERVATIONS_READ_MAX,
    ObservationFilter,
    holdings_json,
    list_alerts,
    list_observations,
)
from sequestra.custody.details import case_seizures, history_json
from sequestra.custody.queries import (
    asset_registry,
    case_json,
    get_case,
    holding_history_page,
    list_cases,
    list_holdings,
)
from sequestra.custody.service import resolve_asset
from sequestra.errors import NotFound
from sequestra.fund.queries import get_sale, list_sales
from sequestra.fund.report import configured_fund_report
from sequestra.fund.service import sale_detail_json
from sequestra.ledger.canonical import parse_json
from sequestra.ledger.errors import CanonicalError
from sequestra.ledger.statement import parse_signed_statement
from sequestra.pricing.queries import READ_LIMIT_MAX as VALUATIONS_READ_MAX
from sequestra.pricing.queries import valuation_at, valuations_page
from sequestra.service.api import models
from sequestra.service.api.deps import Reader, StatementPoster
from sequestra.service.deps import (
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    EngineDep,
    FundConfigurationDep,
    LedgerDep,
    Page,
    PageDep,
)
from sequestra.service.guard import NulRefused

PREFIX: Final = "/api/v1"
TEXT_PARAMETER_LENGTH_MAX: Final = 128
SEQ_MAX: Final = (1 << 63) - 1
HOLDING_ID_MAX: Final = 10**18 - 1

# Printable text only: PostgreSQL refuses NUL in a string, and no id holds control characters.
TEXT_PATTERN: Final = r"^[^\x00-\x1f\x7f]+$"

router = APIRouter(prefix=PREFIX, responses=models.ERROR_RESPONSES)
Item = TypeVar("Item")
Text = Annotated[
    str | None,
    Query(min_length=1, max_length=TEXT_PARAMETER_LENGTH_MAX, pattern=TEXT_PATTERN),
]
PathText = Annotated[
    str, Path(min_length=1, max_length=TEXT_PARAMETER_LENGTH_MAX, pattern=TEXT_PATTERN)
]
OpenOnly = Annotated[bool, Query(alias="open", description="Only those still open.")]


def window(items: Sequence[Item], page: PageDep) -> tuple[list[Item], int | None]:
    """The page's slice of `items` and the offset of the next page (None at the end)."""
    end = page.offset + page.limit
    return list(items[page.offset : end]), end if len(items) > end else None


def read_window(page: Page, read_max: int) -> int | None:
    """How many rows to read for the page (one more tells whether another follows), or
    None when the page starts beyond the `read_max` rows a query may reach."""
    if page.offset >= read_max:
        return None
    return min(page.limit + 1, read_max - page.offset)


def next_offset_of(rows: Sequence[Item], page: Page) -> tuple[list[Item], int | None]:
    """The page's rows out of those read with `read_window`, and the next page's offset."""
    end = page.offset + page.limit
    return list(rows[: page.limit]), end if len(rows) > page.limit else None


@router.get("/cases", response_model=models.CasePage)
def cases(
    engine: EngineDep, _caller: Reader, page: PageDep, open_only: OpenOnly = False
) -> models.CasePage:
    read = list_cases(engine, open_only=open_only, offset=page.offset, limit=page.limit + 1)
    items, next_offset = next_offset_of(read, page)
    return models.CasePage(
        items=[models.CaseOut(**case_json(case)) for case in items], next_offset=next_offset
    )


@router.get("/cases/{case_id}", response_model=models.CaseDetailOut)
def case(
    engine: EngineDep,
    _caller: Reader,
    case_id: PathText,
) -> models.CaseDetailOut:
    found = get_case(engine, case_id)
    if found is None:
        raise NotFound(f"case: no case numbered {case_id!r:.80}")
    seizures = [seizure.to_json() for seizure in case_seizures(engine, case_id)]
    return models.CaseDetailOut.model_validate({**case_json(found), "seizures": seizures})


@router.get("/holdings", response_model=models.HoldingPage)
def holdings(
    engine: EngineDep,
    _caller: Reader,
    page: PageDep,
    case: Text = None,
    asset: Text = None,
) -> models.HoldingPage:
    chosen = None if asset is None else resolve_asset(asset_registry(engine), asset)
    read = list_holdings(
        engine, case_id=case, asset=chosen, offset=page.offset, limit=page.limit + 1
    )
    items, next_offset = next_offset_of(read, page)
    return models.HoldingPage(
        items=[models.HoldingOut(**found) for found in holdings_json(engine, items)],
        next_offset=next_offset,
    )


@router.get("/holdings/{holding_id}/history", response_model=models.HistoryPage)
def history(
    engine: EngineDep,
    _caller: Reader,
    page: PageDep,
    holding_id: Annotated[int, Path(ge=1, le=HOLDING_ID_MAX)],
) -> models.HistoryPage:
    found = holding_history_page(engine, holding_id, page.offset, page.limit)
    if found is None:
        raise NotFound(f"holding: no holding H{holding_id}")
    holding, items, more = found
    next_offset = page.offset + page.limit if more else None
    return models.HistoryPage(
        holding=models.HoldingOut(**holdings_json(engine, [holding])[0]),
        items=[models.HistoryLineOut(**line) for line in history_json(engine, holding, items)],
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


@router.get("/observations", response_model=models.ObservationPage)
def observations(
    engine: EngineDep,
    _caller: Reader,
    page: PageDep,
    chain: Text = None,
    address: Text = None,
    asset: Text = None,
) -> models.ObservationPage:
    """Balances the watcher observed on chain, one item per (observation entry, chain,
    address, asset), newest entry first; `superseded_by` marks those replaced after a reorg."""
    chosen = None if asset is None else resolve_asset(asset_registry(engine), asset)
    read_limit = read_window(page, OBSERVATIONS_READ_MAX)
    where = ObservationFilter(chain, address, None if chosen is None else chosen.asset_id)
    rows = [] if read_limit is None else list_observations(engine, where, page.offset, read_limit)
    items, next_offset = next_offset_of(rows, page)
    return models.ObservationPage(
        items=[models.ObservationOut(**row.to_json()) for row in items], next_offset=next_offset
    )


@router.get("/valuations", response_model=models.ValuationPage)
def valuations(engine: EngineDep, _caller: Reader, page: PageDep) -> models.ValuationPage:
    """Recorded valuations, newest entry first, each as `GET /valuations/{seq}` gives it."""
    read_limit = read_window(page, VALUATIONS_READ_MAX)
    rows = [] if read_limit is None else valuations_page(engine, page.offset, read_limit)
    items, next_offset = next_offset_of(rows, page)
    return models.ValuationPage(
        items=[models.ValuationOut(**row.to_json()) for row in items], next_offset=next_offset
    )


@router.get("/valuations/{seq}", response_model=models.ValuationOut)
def valuation(
    engine: EngineDep, _caller: Reader, seq: Annotated[int, Path(ge=0, le=SEQ_MAX)]
) -> models.ValuationOut:
    """One recorded valuation (the seq of its entry): FX, and each asset's price with its
    confidence and venues. Values of holdings: the valuation report (/reports/valuation)."""
    found = valuation_at(engine, seq)
    if found is None:
        raise NotFound(f"valuation: none recorded at seq {seq}")
    return models.ValuationOut(**found.to_json())


@router.get("/sales", response_model=models.SalePage)
def sales(engine: EngineDep, _caller: Reader, page: PageDep, state: Text = None) -> models.SalePage:
    found = list_sales(engine, state)
    items, next_offset = window(found, page)
    return models.SalePage(
        items=[models.SaleOut(**sale.summary_json()) for sale in items], next_offset=next_offset
    )


@router.get("/sales/{sale_id}", response_model=models.SaleDetailOut)
def sale(engine: EngineDep, _caller: Reader, sale_id: PathText) -> models.SaleDetailOut:
    """One sale with its approvals (valid now or not, under the policy in force), fills and
    realised result: what `sequestra sale show --json` prints."""
    found = get_sale(engine, sale_id)
    if found is None:
        raise NotFound(f"sale: no sale named {sale_id!r:.80}")
    shown = sale_detail_json(engine, found, datetime.now(UTC))
    return models.SaleDetailOut(**shown)


EXPOSURE_DESCRIPTION: Final = (
    "The State Fund's exposure by asset (USD, KZT, weights, concentration, volatility),"
    " VaR and ES, and the loss under each stress scenario, from the latest valuation."
    " Scenarios and participation come from the server's [fund] settings when the app"
    " carries them (`scenarios_from` says `settings`), else the built-in defaults"
    " (`defaults`). 422 `no_report` when the Fund holds nothing or nothing is valued."
)


@router.get("/exposure", response_model=models.ExposureOut, description=EXPOSURE_DESCRIPTION)
def exposure(
    engine: EngineDep, _caller: Reader, configuration: FundConfigurationDep
) -> models.ExposureOut:
    report = configured_fund_report(engine, configuration.fund)
    return models.ExposureOut.model_validate(
        {
            **report.exposure_json(),
            "stress": report.stress_json(),
            "scenarios_from": configuration.source,
            "participation": str(configuration.fund.participation),
        }
    )


@router.get("/entries", response_model=models.EntryPage)
def entries(
    ledger: LedgerDep,
    _caller: Reader,
    from_seq: Annotated[int, Query(ge=0, le=SEQ_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX)] = PAGE_LIMIT_DEFAULT,
) -> models.EntryPage:
    stored = ledger.read(from_seq, limit + 1)
    items = [models.EntryOut(**entry.view_json()) for entry in stored[:limit]]
    next_from_seq = stored[limit].seq if len(stored) > limit else None
    return models.EntryPage(items=items, next_from_seq=next_from_seq)


SIGNED_STATEMENT_BODY: Final = {
    "requestBody": {
        "required": True,
        "description": "One signed statement as `sequestra sign` prints it.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["statement", "signature"],
                    "properties": {
                        "statement": {"type": "object"},
                        "signature": {"type": "string", "description": "base64 Ed25519"},
                    },
                }
            }
        },
    }
}


def refuse_nul(value: Any, where: str = "$") -> None:
    """Raises NulRefused naming the first member whose name or text holds a NUL character
    (PostgreSQL cannot store one; SQLite would): the same 422 on both databases."""
    if isinstance(value, str):
        if "\x00" in value:
            raise NulRefused(f"{where}: expected text without a NUL character (\\u0000)")
    elif isinstance(value, dict):
        for name, member in value.items():
            if "\x00" in name:
                raise NulRefused(f"{where}: expected member names without a NUL character")
            refuse_nul(member, f"{where}.{name[:64]}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_nul(item, f"{where}[{index}]")


@router.post(
    "/statements",
    status_code=201,
    response_model=models.ReceiptOut,
    openapi_extra=SIGNED_STATEMENT_BODY,
)
async def post_statement(
    request: Request, ledger: LedgerDep, _caller: StatementPoster
) -> models.ReceiptOut:
    """Append one signed statement (as `sequestra sign` prints it). The ledger checks the
    signature and the signing key's authority; a refusal is 422 with the reason."""
    body = await request.body()
    # Malformed JSON is left to parse_signed_statement, which says what is wrong.
    with contextlib.suppress(CanonicalError):
        refuse_nul(parse_json(body))
    statement = parse_signed_statement(body)
    (receipt,) = await run_in_threadpool(ledger.append, [statement])
    return models.ReceiptOut(**receipt.to_json())
