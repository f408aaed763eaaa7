"""The web pages on SQLite and PostgreSQL: the session (no cookie, a bad token, a revoked
token, logout, a cross-site form), every page against the service function it shows,
report downloads against `render_report`, escaping, and the error pages."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from sequestra.chains.watch.queries import list_alerts
from sequestra.custody.queries import (
    case_json,
    get_case,
    holding_history,
    list_cases,
    list_holdings,
)
from sequestra.fund.queries import get_sale, list_sales
from sequestra.fund.report import fund_report
from sequestra.ledger.checkpoints import create_checkpoint, get_checkpoint
from sequestra.ledger.keys import SigningKey
from sequestra.pricing.queries import current_valuation, valuations_page
from sequestra.pricing.run import value_holdings
from sequestra.reports.catalog import REPORT_FORMATS
from sequestra.service.access.roles import API_ROLES
from sequestra.service.access.tokens import create_token, hash_token, revoke_token
from sequestra.service.app import create_app
from sequestra.service.web.figures import exact, money
from sequestra.service.web.series import value_series
from sequestra.service.web.session import COOKIE_NAME
from tests.composed import APPLICATION, REPORTS
from tests.custody.conftest import BTC_1, CASE, Custody, custody  # noqa: F401
from tests.pricing.test_run import valuer_key  # noqa: F401
from tests.reports.test_valuation_report import _revalue
from tests.web.conftest import HOSTILE_CASE, HOSTILE_TEXT, SALE, Site

PAGES = (
    "/",
    "/cases",
    f"/cases/{CASE}",
    "/holdings",
    "/valuations",
    "/exposure",
    "/sales",
    f"/sales/{SALE}",
    "/audit",
)


# --- the session -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGES, "/reports/valuation.csv"])
def test_without_a_session_every_page_sends_to_the_login(site: Site, path: str) -> None:
    response = site.client.get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    site.client.cookies.set(COOKIE_NAME, "0" * 64)
    response = site.client.get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?ended=true"


def test_login_sets_a_strict_http_only_cookie_and_keeps_the_token_out_of_urls(site: Site) -> None:
    assert "API token" in site.page("/login")
    response = site.login("ministry")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    session_id = site.client.cookies[COOKIE_NAME]
    assert cookie.startswith(f"{COOKIE_NAME}={session_id};") and len(session_id) == 64
    assert site.world.tokens["ministry"] not in cookie  # the cookie holds a session id only
    for attribute in ("HttpOnly", "Path=/", "SameSite=strict"):
        assert attribute.lower() in cookie.lower()
    assert site.world.tokens["ministry"] not in response.headers["location"]
    assert "ministry desk (ministry)" in site.page("/")


def test_a_bad_token_is_a_clear_error(site: Site) -> None:
    for token in ("0" * 64, "short", ""):
        response = site.client.post("/login", data={"token": token}, follow_redirects=False)
        assert response.status_code == 401
        assert "That token is unknown, revoked or malformed" in response.text
        assert "set-cookie" not in response.headers


def test_a_revoked_token_logs_out_at_once(site: Site) -> None:
    site.login("approver")
    assert "Dashboard" in site.page("/")
    token_hash = hash_token(site.world.tokens["approver"])
    revoke_token(site.engine, token_hash[:12], datetime.now(UTC))
    response = site.client.get("/cases", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?ended=true"
    assert f'{COOKIE_NAME}=""' in response.headers["set-cookie"]
    assert "Your session has ended" in site.page("/login", ended="true")


def test_logout_ends_the_session(site: Site) -> None:
    site.login()
    response = site.client.post("/logout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert site.client.get("/", follow_redirects=False).status_code == 303


def test_forms_from_another_site_are_refused(site: Site) -> None:
    token = site.world.tokens["admin"]
    evil = {"Origin": "https://evil.example"}
    response = site.client.post("/login", data={"token": token}, headers=evil)
    assert response.status_code == 403 and "set-cookie" not in response.headers
    cross = {"Sec-Fetch-Site": "cross-site"}
    assert site.client.post("/login", data={"token": token}, headers=cross).status_code == 403
    own = {"Origin": "http://testserver"}
    response = site.client.post(
        "/login", data={"token": token}, headers=own, follow_redirects=False
    )
    assert response.status_code == 303
    assert site.client.post("/logout", headers=evil).status_code == 403
    assert site.client.get("/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("role", API_ROLES)
def test_every_role_reads_every_page(site: Site, role: str) -> None:
    site.login(role)
    for path in PAGES:
        page = site.page(path)  # 200, or the test fails naming the path
        assert f'<span class="who">{role} desk ({role})</span>' in page, path


def test_pages_forbid_scripts_and_framing(site: Site) -> None:
    site.login()
    response = site.client.get("/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "<script" not in response.text
    assert response.headers["cache-control"] == "no-store"
    css = site.client.get("/static/web.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


# --- the pages show what the service functions return ----------------------------------------


def test_the_dashboard_shows_the_latest_valuation_alerts_and_ledger(site: Site) -> None:
    site.login()
    page = site.page("/")
    latest = site.world.valuations[-1]
    assert f"{money(latest.total_usd)} <span" in page
    assert f"{money(latest.total_kzt)} <span" in page
    opened = list_alerts(site.engine, open_only=True)
    assert len(opened) == 2
    assert f'<p class="figure alarm">{len(opened)}</p>' in page
    assert all(f"<td>{alert['seq']}</td>" in page for alert in opened)
    assert "<td>10002</td>" not in page  # acknowledged
    with site.engine.connect() as connection:
        checkpoint = get_checkpoint(connection)
    assert checkpoint is not None
    assert f"{site.world.custody.size()} <span" in page
    assert f"latest checkpoint: size {checkpoint.size}" in page
    assert page.count("<svg") == 3
    for valuation in site.world.valuations:
        assert f"<td>{valuation.seq}</td>" in page
        assert f'<td class="num">{money(valuation.total_usd)}</td>' in page


def test_the_value_series_matches_the_valuations(site: Site) -> None:
    points = value_series(site.engine)
    assert [point.seq for point in points] == [v.seq for v in site.world.valuations]
    for point, valuation in zip(points, site.world.valuations, strict=True):
        prices = {p["asset"]: Decimal(p["price_usd"]) for p in valuation.body["prices"]}
        values = value_holdings(site.engine, prices, Decimal("512.34"), valuation.seq)
        usd: dict[str, Decimal] = defaultdict(Decimal)
        for value in values:
            usd[value.asset_id] += value.value_usd
        # The series rounds each asset's value once, the valuation each holding's: they
        # differ by at most half a cent per holding (docs in sequestra.service.web.series).
        slack = Decimal("0.005") * len(values)
        for asset_id, value in point.value_usd:
            assert abs(value - usd[asset_id]) <= slack
        assert abs(point.total_usd - valuation.total_usd) <= slack
        assert abs(point.total_kzt - valuation.total_kzt) <= slack


def test_cases_and_a_case_show_their_records(site: Site) -> None:
    site.login()
    page = site.page("/cases")
    for case in list_cases(site.engine):
        assert f">{case.case_id}</a>" in page
    found = get_case(site.engine, CASE)
    assert found is not None
    detail = site.page(f"/cases/{CASE}")
    assert case_json(found)["legal_basis"] in detail
    for holding in list_holdings(site.engine, case_id=CASE):
        assert f'<a href="/holdings/{holding.holding_id}">H{holding.holding_id}</a>' in detail
        assert f"{holding.amount} {holding.asset.symbol}" in detail
    response = site.client.get("/cases/NOPE")
    assert response.status_code == 404 and "No case is numbered NOPE" in response.text


def test_a_hostile_description_is_escaped(site: Site) -> None:
    site.login()
    for page in (site.page("/cases"), site.page(f"/cases/{HOSTILE_CASE}")):
        assert HOSTILE_TEXT not in page
        assert "<script>" not in page and "<img" not in page
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&lt;img" in page


def test_holdings_page_and_filters(site: Site) -> None:
    site.login()
    page = site.page("/holdings")
    every = list_holdings(site.engine)
    assert len(every) >= 3
    for holding in every:
        link = f'<a href="/holdings/{holding.holding_id}">H{holding.holding_id}</a>'
        assert link in page and f"{holding.amount} {holding.asset.symbol}" in page
    usdt = site.page("/holdings", asset="ethereum:USDT")
    assert "2500 USDT" in usdt and "BTC</td>" not in usdt
    assert "State Fund" in site.page("/holdings", asset="bitcoin:BTC")
    response = site.client.get("/holdings", params={"asset": "nochain:XYZ"})
    assert response.status_code == 422 and "Unknown asset" in response.text


def test_holding_page_shows_its_history(site: Site) -> None:
    site.login()
    for holding in list_holdings(site.engine, include_empty=True):
        found = holding_history(site.engine, holding.holding_id)
        assert found is not None
        page = site.page(f"/holdings/{holding.holding_id}")
        assert f"<title>Holding H{holding.holding_id}" in page
        for line in found[1]:
            shown = line.to_json(holding.asset)
            assert f'<td class="num">{line.seq}</td>' in page
            assert f'<td class="num">{shown["change"]}</td>' in page
            assert f'<td class="num">{shown["balance"]}</td>' in page
    missing = site.client.get("/holdings/999999")
    assert missing.status_code == 404 and "No holding is numbered H999999" in missing.text
    assert site.client.get("/holdings/0").status_code == 422


def test_valuations_page_shows_each_valuation_and_its_prices(site: Site) -> None:
    site.login()
    page = site.page("/valuations")
    recorded = valuations_page(site.engine, 0, 10)
    assert len(recorded) == 2
    for valuation in recorded:
        assert f"<td>{valuation.seq}</td>" in page
        assert exact(valuation.fx_rate) in page
        for price in valuation.prices:
            assert f'{price.asset_id} <span class="num">{exact(price.price_usd)}</span>' in page


def test_exposure_page_shows_the_fund_report(site: Site) -> None:
    site.login()
    page = site.page("/exposure")
    report = fund_report(site.engine)
    assert f"{money(report.exposure.total_usd)} <span" in page
    assert html.escape(report.moment) in page  # which moment the figures describe
    for line in report.exposure.assets:
        assert f'<td class="num">{exact(line.quantity)}</td>' in page
        assert f'<td class="num">{money(line.value_usd)}</td>' in page
    for result in report.stress:
        assert f"<td>{result.scenario}</td>" in page
        assert f'<td class="num">{money(result.total_loss_usd)}</td>' in page
        # The chart: one bar per scenario, the loss on top of what is left.
        assert f"<title>loss {result.scenario}: {money(result.total_loss_usd)} USD</title>" in page
        assert (
            f"<title>value after {result.scenario}: {money(result.value_after_usd)} USD</title>"
            in page
        )


def test_exposure_without_a_fund_is_an_empty_state(custody: Custody) -> None:  # noqa: F811
    engine = custody.world.engine
    token, _ = create_token(engine, "ministry", "desk", datetime.now(UTC))
    with TestClient(create_app(engine, APPLICATION)) as client:
        client.post("/login", data={"token": token})
        response = client.get("/exposure")
        assert response.status_code == 200
        assert "No exposure to show: no valuation recorded yet" in response.text
        dashboard = client.get("/")
        assert dashboard.status_code == 200 and "No valuation recorded yet" in dashboard.text


def test_sales_and_a_sale_show_their_records(site: Site) -> None:
    site.login()
    page = site.page("/sales")
    for sale in list_sales(site.engine):
        assert f">{sale.sale_id}</a>" in page
        assert f"{sale.amount(sale.amount_base)} {sale.asset.symbol}" in page
    found = get_sale(site.engine, SALE)
    assert found is not None and found.fills and found.approvals
    detail = site.page(f"/sales/{SALE}")
    assert f"<dd>{found.state}</dd>" in detail
    for fill in found.fills:
        assert f'<td class="num">{exact(fill.price_usd)}</td>' in detail
        assert f'<td class="num">{money(fill.fee_usd)}</td>' in detail
    assert "approver 0" in detail
    assert "No sale in state settled" in site.page("/sales", state="settled")
    assert site.client.get("/sales", params={"state": "bogus"}).status_code == 422
    assert site.client.get("/sales/NOPE").status_code == 404


def test_audit_shows_the_checkpoint_and_verifies_on_demand(site: Site) -> None:
    site.login()
    with site.engine.connect() as connection:
        checkpoint = get_checkpoint(connection)
    assert checkpoint is not None
    page = site.page("/audit")
    assert checkpoint.root_hash.hex() in page
    assert html.escape(checkpoint.note.decode()).splitlines()[0] in page
    assert "Verify the ledger now" in page and "Verified" not in page
    assert "Earlier checkpoints" not in page  # only one so far
    books = site.world.custody
    books.append(books.case("AFM-2025-0099"))
    later, _ = create_checkpoint(site.engine, books.world.signer, books.world.now)
    page = site.page("/audit")
    latest, earlier = page.split("Earlier checkpoints")
    assert later.root_hash.hex() in latest and checkpoint.root_hash.hex() in earlier
    assert f'<td class="num">{checkpoint.size}</td>' in earlier
    # The test world's alerts were written into their table, not appended: a replay of the
    # entries does not give them, and the verification says so.
    failed = site.page("/audit", verify="true")
    assert "Verification FAILED" in failed and "chain_alert" in failed


def test_audit_of_an_untouched_ledger_verifies(custody: Custody) -> None:  # noqa: F811
    engine = custody.world.engine
    token, _ = create_token(engine, "auditor", "desk", datetime.now(UTC))
    with TestClient(create_app(engine, APPLICATION)) as client:
        client.post("/login", data={"token": token})
        page = client.get("/audit", params={"verify": "true"}).text
    assert f"Verified: all {custody.size()} entries check out; not pinned" in page
    assert "No checkpoint signed yet" in page


# --- downloads and errors ----------------------------------------------------------------------


@pytest.mark.parametrize("format_name", REPORT_FORMATS)
def test_a_report_download_is_the_catalog_bytes(site: Site, format_name: str) -> None:
    site.login("ministry")
    response = site.client.get(f"/reports/valuation.{format_name}")
    assert response.status_code == 200, response.text
    rendered = REPORTS.render(site.engine, "valuation", format_name)
    assert response.content == rendered.data
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="{rendered.filename}"'


def test_a_report_that_cannot_be_made_is_a_422_page(site: Site) -> None:
    site.login()
    response = site.client.get("/reports/nonsense.csv")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "Report not available" in response.text and "nonsense" in response.text
    response = site.client.get("/reports/valuation.docx")
    assert response.status_code == 422 and "format: expected one of" in response.text


def test_unknown_pages_are_a_404_page_and_the_api_keeps_its_format(site: Site) -> None:
    site.login()
    response = site.client.get("/nowhere/<b>")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no page at /nowhere/%3Cb%3E" in response.text or "&lt;b&gt;" in response.text
    assert 'href="/cases"' in response.text  # logged in: the navigation is there
    api = site.client.get("/api/v1/nowhere")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    bad = site.client.get("/cases", params={"offset": "-1"})
    assert bad.status_code == 422 and "offset" in bad.text


def test_holdings_under_an_open_critical_alert_are_in_doubt(site: Site) -> None:
    """The world's open critical alert 10001 is on BTC_1's BTC: its holdings say so, and the
    dashboard shows their value apart from the undisputed total."""
    site.login()
    doubtful = [h for h in list_holdings(site.engine) if h.wallet == BTC_1]
    assert doubtful
    listing = site.page("/holdings")
    assert "existence in doubt (alert 10001)" in listing
    page = site.page(f"/holdings/{doubtful[0].holding_id}")
    assert "Existence in doubt: critical alert 10001 is open" in page
    assert "in doubt: under an open critical alert" in site.page("/")
    exposure = site.page("/exposure")  # the Fund's 2 BTC lie at BTC_1 too
    report = fund_report(site.engine)
    assert report.in_doubt_usd > 0 and "alert seq 10001 on" in exposure
    assert f"of which {money(report.in_doubt_usd)} USD in doubt" in exposure


def test_case_and_holding_pages_show_when_a_seizure_happened_and_its_evidence(site: Site) -> None:
    """The seizure's own time (seized_at) beside the time its entry was recorded, and the
    evidence it names by SHA-256, on the case page and in the holding's history."""
    holder = site.world.custody
    digest = "ab" * 32
    seizure = holder.seize("10000000")  # 0.1 BTC more, with evidence
    body = {
        **seizure.statement["body"],
        "seized_at": "2025-03-14T09:30:00Z",
        "evidence": [{"sha256": digest, "name": "protocol-17.pdf"}],
    }
    holder.append(holder.sign("seizure.recorded", body))
    site.login()
    page = site.page(f"/cases/{CASE}")
    assert "<th>Seized at</th><th>Recorded at</th>" in page
    assert "2025-03-14T09:30:00Z" in page and digest in page and "protocol-17.pdf" in page
    assert "Opened (recorded)" in page
    (held,) = [h for h in list_holdings(site.engine, case_id=CASE) if h.wallet == BTC_1]
    history = site.page(f"/holdings/{held.holding_id}")
    assert "<th>Happened at</th><th>Recorded at</th>" in history
    assert "2025-03-14T09:30:00Z" in history and digest in history


def test_the_valuations_page_names_the_current_one_and_marks_back_dated_history(
    site: Site,
    valuer_key: SigningKey,  # noqa: F811
) -> None:
    """A valuation recorded last for an earlier cutoff sits first in the list (newest entry)
    but is marked as history; the current one is the latest cutoff."""
    before = current_valuation(site.engine)
    assert before is not None
    late = _revalue(site.world.custody, valuer_key, -60)  # an earlier cutoff, recorded now
    assert late.seq > before.seq and current_valuation(site.engine).seq == before.seq
    site.login()
    page = site.page("/valuations")
    assert f"Current valuation: seq {before.seq}, cutoff {before.cutoff}" in page
    assert (
        f'<td>{before.seq}</td><td>{before.cutoff} <strong class="small">current</strong>' in page
    )
    assert f'<td>{late.seq}</td><td>{late.cutoff} <span class="small">history:' in page
