"""The web pages: thin handlers, each reading through the service functions the API and
the command use, and rendering one template. Every page needs a session (see session.py);
every role that may read the API may read the pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from sequestra.chains.watch.queries import positions_in_doubt
from sequestra.custody.details import case_seizures, history_json
from sequestra.custody.queries import (
    asset_registry,
    case_json,
    get_case,
    holding_history_page,
    list_cases,
    list_holdings,
)
from sequestra.custody.service import InputError, resolve_asset
from sequestra.fund.queries import STATES, get_sale, list_sales
from sequestra.fund.report import FundReportError, configured_fund_report
from sequestra.fund.stress import StressResult
from sequestra.ledger.checkpoints import StoredCheckpoint, recent_checkpoints
from sequestra.ledger.db import read_transaction
from sequestra.ledger.policy import JudgedCosignatures
from sequestra.ledger.verify import verify_ledger
from sequestra.pricing.queries import READ_LIMIT_MAX as VALUATIONS_READ_MAX
from sequestra.pricing.queries import current_valuation, valuations_page
from sequestra.reports.errors import ReportError
from sequestra.service.access.sessions import END_EXPIRED, END_IDLE, end_session, open_session
from sequestra.service.access.tokens import resolve_token
from sequestra.service.deps import (
    OFFSET_MAX,
    ApplicationDep,
    EngineDep,
    FailureLimitDep,
    FundConfigurationDep,
    TrustDep,
    VerificationSlotDep,
)
from sequestra.service.guard import VERIFY_RETRY_AFTER_S
from sequestra.service.web import dashboard
from sequestra.service.web.charts import Series, stacked_bars
from sequestra.service.web.render import PAGE_HEADERS, error_page, render_page
from sequestra.service.web.session import (
    COOKIE_NAME,
    TOKEN_TEXT_LENGTH_MAX,
    Viewer,
    clear_session,
    page_sessions,
    same_origin,
    set_session,
)

PAGE_ROWS: Final = 50
CHECKPOINTS_SHOWN: Final = 20  # the latest and the ones before it on the audit page
TEXT_PARAMETER_LENGTH_MAX: Final = 128

web_router = APIRouter(include_in_schema=False)
Offset = Annotated[int, Query(ge=0, le=OFFSET_MAX)]
Text = Annotated[str | None, Query(max_length=TEXT_PARAMETER_LENGTH_MAX)]
Identifier = Annotated[str, Path(min_length=1, max_length=TEXT_PARAMETER_LENGTH_MAX)]
HOLDING_ID_MAX: Final = 10**18 - 1
ENDED_REASON_LENGTH_MAX: Final = 16
EndedReason = Annotated[str | None, Query(max_length=ENDED_REASON_LENGTH_MAX)]


@dataclass(frozen=True)
class Pager:
    """Where a page of rows sits in its list, for the previous/next links."""

    offset: int
    shown: int
    more: bool

    @property
    def previous_offset(self) -> int | None:
        return None if self.offset == 0 else max(self.offset - PAGE_ROWS, 0)

    @property
    def next_offset(self) -> int | None:
        return self.offset + PAGE_ROWS if self.more else None


def _window(items: list[Any], offset: int) -> tuple[list[Any], Pager]:
    """The page at `offset` out of every item."""
    return _page(items[offset : offset + PAGE_ROWS + 1], offset)


def _page(read: list[Any], offset: int) -> tuple[list[Any], Pager]:
    """The page out of the PAGE_ROWS + 1 items read from `offset` (one more tells whether
    another page follows)."""
    shown = read[:PAGE_ROWS]
    return shown, Pager(offset, len(shown), len(read) > PAGE_ROWS)


def _blank(text: str | None) -> str | None:
    return text.strip() or None if text is not None else None


# --- login -----------------------------------------------------------------------------------


def _ended_notice(request: Request, ended: str | None) -> str | None:
    """What the login page says about the session that sent the browser there: the limit
    it reached, else one sentence that tells a replayed cookie nothing."""
    if not ended:
        return None
    limits = page_sessions(request).limits
    if ended == END_IDLE:
        return (
            "Your session has ended: no page was opened for"
            f" {limits.idle_s_max // 60} minutes. Log in again."
        )
    if ended == END_EXPIRED:
        return (
            "Your session has ended: a session lasts at most"
            f" {limits.absolute_s_max // 3600} hours. Log in again."
        )
    return (
        "Your session has ended: it was logged out, its token was revoked, or it is unknown."
        " Log in again."
    )


@web_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, ended: EndedReason = None) -> HTMLResponse:
    notice = _ended_notice(request, ended)
    return render_page(request, "login.html", viewer=None, error=None, notice=notice)


@web_router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    engine: EngineDep,
    limit: FailureLimitDep,
    token: Annotated[str, Form(max_length=TOKEN_TEXT_LENGTH_MAX)] = "",
) -> Response:
    if not same_origin(request):
        return error_page(request, 403, "Refused", "The login form must be sent from this site.")
    client = request.client.host if request.client else "unknown"
    retry_after_s = limit.retry_after_s(client)
    if retry_after_s:
        message = f"Too many failed sign-ins from {client}. Try again in {retry_after_s} s."
        page = error_page(request, 429, "Too many attempts", message)
        page.headers["Retry-After"] = str(retry_after_s)
        return page
    record = resolve_token(engine, token.strip())
    if record is None:
        limit.failed(client)
        error = "That token is unknown, revoked or malformed. Paste the whole 64-character token."
        return render_page(request, "login.html", 401, viewer=None, error=error, notice=None)
    now_utc = page_sessions(request).clock()
    earlier = request.cookies.get(COOKIE_NAME)
    if earlier:
        end_session(engine, earlier, now_utc)  # this browser's earlier session, if any
    session_id = open_session(engine, record.token_hash, record.role, now_utc)
    response = RedirectResponse("/", status_code=303)
    set_session(response, request, session_id)
    return response


@web_router.post("/logout")
def logout(request: Request, engine: EngineDep) -> Response:
    if not same_origin(request):
        return error_page(request, 403, "Refused", "The logout form must be sent from this site.")
    session_id = request.cookies.get(COOKIE_NAME)
    if session_id:
        end_session(engine, session_id, page_sessions(request).clock())
    response = RedirectResponse("/login", status_code=303)
    clear_session(response, request)
    return response


# --- pages -----------------------------------------------------------------------------------


@web_router.get("/", response_class=HTMLResponse)
def home(request: Request, engine: EngineDep, trust: TrustDep, viewer: Viewer) -> HTMLResponse:
    context = dashboard.dashboard(engine)
    checkpoint = context["checkpoint"]
    context["cosignatures"] = None if checkpoint is None else trust.judge(checkpoint.note)
    context["fork_alarms"] = len(trust.open_alarms())
    return render_page(request, "dashboard.html", viewer=viewer, report_kind="valuation", **context)


@web_router.get("/cases", response_class=HTMLResponse)
def cases(
    request: Request,
    engine: EngineDep,
    viewer: Viewer,
    offset: Offset = 0,
    open_only: Annotated[bool, Query(alias="open")] = False,
) -> HTMLResponse:
    read = list_cases(engine, open_only=open_only, offset=offset, limit=PAGE_ROWS + 1)
    rows, pager = _page([case_json(case) for case in read], offset)
    return render_page(
        request,
        "cases.html",
        viewer=viewer,
        report_kind="valuation",
        cases=rows,
        pager=pager,
        open_only=open_only,
        query={"open": "true"} if open_only else {},
    )


@web_router.get("/cases/{case_id}", response_class=HTMLResponse)
def case(request: Request, engine: EngineDep, viewer: Viewer, case_id: Identifier) -> Response:
    found = get_case(engine, case_id)
    if found is None:
        return error_page(request, 404, "Not found", f"No case is numbered {case_id}.", viewer)
    holdings = list_holdings(engine, case_id=case_id)
    return render_page(
        request,
        "case.html",
        viewer=viewer,
        report_kind="valuation",
        case=case_json(found),
        seizures=case_seizures(engine, case_id),
        holdings=holdings,
        doubts=positions_in_doubt(engine),
    )


@web_router.get("/holdings", response_class=HTMLResponse)
def holdings(
    request: Request,
    engine: EngineDep,
    viewer: Viewer,
    offset: Offset = 0,
    case: Text = None,
    asset: Text = None,
) -> Response:
    case, asset = _blank(case), _blank(asset)
    try:
        chosen = None if asset is None else resolve_asset(asset_registry(engine), asset)
    except InputError as error:
        return error_page(request, 422, "Unknown asset", str(error), viewer)
    read = list_holdings(engine, case_id=case, asset=chosen, offset=offset, limit=PAGE_ROWS + 1)
    rows, pager = _page(read, offset)
    query = {k: v for k, v in (("case", case), ("asset", asset)) if v is not None}
    return render_page(
        request,
        "holdings.html",
        viewer=viewer,
        report_kind="valuation",
        holdings=rows,
        doubts=positions_in_doubt(engine),
        pager=pager,
        case=case or "",
        asset=asset or "",
        query=query,
    )


@web_router.get("/holdings/{holding_id}", response_class=HTMLResponse)
def holding(
    request: Request,
    engine: EngineDep,
    viewer: Viewer,
    holding_id: Annotated[int, Path(ge=1, le=HOLDING_ID_MAX)],
    offset: Offset = 0,
) -> Response:
    found = holding_history_page(engine, holding_id, offset, PAGE_ROWS)
    if found is None:
        missing = f"No holding is numbered H{holding_id}."
        return error_page(request, 404, "Not found", missing, viewer)
    held, lines, more = found
    return render_page(
        request,
        "holding.html",
        viewer=viewer,
        report_kind="valuation",
        holding=held,
        doubt=positions_in_doubt(engine).get((held.wallet, held.asset.asset_id)),
        lines=history_json(engine, held, lines),
        pager=Pager(offset, len(lines), more),
        page_rows=PAGE_ROWS,
        query={},
    )


@web_router.get("/valuations", response_class=HTMLResponse)
def valuations(
    request: Request,
    engine: EngineDep,
    viewer: Viewer,
    offset: Annotated[int, Query(ge=0, le=VALUATIONS_READ_MAX - PAGE_ROWS - 1)] = 0,
) -> HTMLResponse:
    rows = valuations_page(engine, offset, PAGE_ROWS + 1)
    pager = Pager(offset, min(len(rows), PAGE_ROWS), len(rows) > PAGE_ROWS)
    return render_page(
        request,
        "valuations.html",
        viewer=viewer,
        report_kind="valuation",
        valuations=rows[:PAGE_ROWS],
        current=current_valuation(engine),
        pager=pager,
        query={},
    )


@web_router.get("/exposure", response_class=HTMLResponse)
def exposure(
    request: Request, engine: EngineDep, viewer: Viewer, configuration: FundConfigurationDep
) -> HTMLResponse:
    try:
        report = configured_fund_report(engine, configuration.fund)
    except FundReportError as error:
        return render_page(
            request,
            "exposure.html",
            viewer=viewer,
            report_kind="exposure",
            report=None,
            empty=str(error),
        )
    return render_page(
        request,
        "exposure.html",
        viewer=viewer,
        report_kind="exposure",
        report=report,
        empty=None,
        stress_chart=_stress_chart(report.stress) if report.stress else None,
    )


def _stress_chart(results: Sequence[StressResult]) -> Markup:
    """Per scenario, the value left (bottom) and the loss (top): each bar is the Fund's value
    today. A scenario under which the Fund gains shows no loss."""
    labels = [result.scenario for result in results]
    after = tuple(max(result.value_after_usd, Decimal(0)) for result in results)
    losses = tuple(max(result.total_loss_usd, Decimal(0)) for result in results)
    return stacked_bars(
        "Value after each stress scenario, and the loss",
        "USD",
        labels,
        [Series("value after", after), Series("loss", losses)],
    )


@web_router.get("/sales", response_class=HTMLResponse)
def sales(
    request: Request, engine: EngineDep, viewer: Viewer, offset: Offset = 0, state: Text = None
) -> Response:
    state = _blank(state)
    try:
        found = list_sales(engine, state)
    except InputError as error:
        return error_page(request, 422, "Unknown sale state", str(error), viewer)
    rows, pager = _window(found, offset)
    return render_page(
        request,
        "sales.html",
        viewer=viewer,
        report_kind="sales",
        sales=rows,
        pager=pager,
        state=state or "",
        states=STATES,
        query={"state": state} if state else {},
    )


@web_router.get("/sales/{sale_id}", response_class=HTMLResponse)
def sale(request: Request, engine: EngineDep, viewer: Viewer, sale_id: Identifier) -> Response:
    found = get_sale(engine, sale_id)
    if found is None:
        return error_page(request, 404, "Not found", f"No sale is named {sale_id}.", viewer)
    return render_page(request, "sale.html", viewer=viewer, report_kind="sales", sale=found)


@web_router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    engine: EngineDep,
    application: ApplicationDep,
    trust: TrustDep,
    viewer: Viewer,
    slot: VerificationSlotDep,
    verify: bool = False,
) -> Response:
    with read_transaction(engine) as connection:
        recent = recent_checkpoints(connection, CHECKPOINTS_SHOWN)
    judged = [JudgedCheckpoint(stored, trust.judge(stored.note)) for stored in recent]
    latest = judged[0] if judged else None
    published = next((j for j in judged if j.cosignatures.quorum_met), None)
    trusted: bytes | None = getattr(request.app.state, "ledger_public_key", None)
    result = None
    if verify:
        if not slot.try_enter():
            message = (
                "A verification of the whole ledger is already running on this server."
                f" Try again in {VERIFY_RETRY_AFTER_S} s."
            )
            busy = error_page(request, 503, "Verification busy", message, viewer)
            busy.headers["Retry-After"] = str(VERIFY_RETRY_AFTER_S)
            return busy
        try:
            # One process: the parallel verifier forks, which a threaded server must not do.
            result = verify_ledger(
                engine,
                application.rules,
                trusted,
                None,
                workers=1,
                trust=trust.trusted_state(engine=engine),
            )
        finally:
            slot.leave()
    return render_page(
        request,
        "audit.html",
        viewer=viewer,
        report_kind="audit",
        latest=latest,
        earlier=judged[1:],
        published=published,
        policy=trust.policy,
        alarms=trust.open_alarms(),
        note=None if latest is None else latest.stored.note.decode("utf-8", "replace"),
        result=result,
        summary=None if result is None else result.to_json()["summary"],
        pinned=trusted is not None,
        size=dashboard.ledger_size(engine),
    )


@dataclass(frozen=True)
class JudgedCheckpoint:
    """A stored checkpoint and its cosignatures as the trust policy judged them."""

    stored: StoredCheckpoint
    cosignatures: JudgedCosignatures


# --- report downloads ------------------------------------------------------------------------


@web_router.get("/reports/{kind}.{format_name}")
def report(
    request: Request,
    engine: EngineDep,
    application: ApplicationDep,
    viewer: Viewer,
    kind: Identifier,
    format_name: str,
) -> Response:
    try:
        rendered = application.reports.render(engine, kind, format_name)
    except ReportError as error:
        return error_page(request, 422, "Report not available", str(error), viewer)
    headers = {
        **PAGE_HEADERS,
        "Content-Disposition": f'attachment; filename="{rendered.filename}"',
        "X-Tree-Size": str(rendered.tree_size),
        "X-Root-SHA256": rendered.root_sha256,
    }
    return Response(rendered.data, media_type=rendered.media_type, headers=headers)
