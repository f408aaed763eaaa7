"""The composition root: the one place that puts the application together.

Every layer keeps its statement kinds' body models (`BODY_SCHEMAS`), its projection and its
reports beside its code, and registers nothing. This module joins them into values handed to
whatever needs them: the rule set (kinds, body models, projections with the custody
extensions) to append, verify and rebuild; the report catalog to the CLI, the API and the
pages; the scheduler's jobs to the scheduler. The CLI, the API, the scheduler's jobs and the
tests all take them from here, so every entry point runs the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Final

from sqlalchemy import Connection, Engine

from sequestra.chains.watch.kinds import BODY_SCHEMAS as WATCH_BODIES
from sequestra.chains.watch.projection import WATCH_KINDS, WatchProjection
from sequestra.custody.kinds import BODY_SCHEMAS as CUSTODY_BODIES
from sequestra.custody.projection import CustodyProjection
from sequestra.custody.state import CUSTODY_KINDS
from sequestra.fund.kinds import BODY_SCHEMAS as FUND_BODIES
from sequestra.fund.sales import SalesExtension
from sequestra.ledger.export import BundleSection
from sequestra.ledger.kinds import BODY_SCHEMAS as LEDGER_BODIES
from sequestra.ledger.roles import NOTE_RECORDED
from sequestra.ledger.rules import ProjectionSpec, RuleSet
from sequestra.pricing.kinds import BODY_SCHEMAS as PRICING_BODIES
from sequestra.pricing.projection import PricingProjection
from sequestra.reports.catalog import RenderedReport, ReportCatalog, ReportContext

RULE_SET_NAME: Final = "sequestra/1"
# Kinds that change no read model: a note is only ever read from its entry.
UNPROJECTED_KINDS: Final = frozenset({NOTE_RECORDED})


def compose_rule_set() -> RuleSet:
    """The application's rule set: every kind's body model, and the projections in the
    order they stage (custody with the State Fund's sales, the chain watch, pricing).

    Raises RuleSetError if the layers' kinds and the authority table disagree.
    """
    bodies = {**LEDGER_BODIES, **CUSTODY_BODIES, **WATCH_BODIES, **PRICING_BODIES, **FUND_BODIES}
    custody_kinds = CUSTODY_KINDS | SalesExtension.kinds
    projections = (
        ProjectionSpec(
            CustodyProjection.name,
            custody_kinds,
            partial(CustodyProjection, (SalesExtension,)),
        ),
        ProjectionSpec(WatchProjection.name, WATCH_KINDS, WatchProjection),
        ProjectionSpec(PricingProjection.name, PricingProjection.kinds, PricingProjection),
    )
    return RuleSet(RULE_SET_NAME, bodies, projections, UNPROJECTED_KINDS)


# Report builders import their modules when a report is made: the reports' libraries
# (openpyxl, reportlab, numpy) load only in the processes that render one.


def _valuation(
    engine: Engine, context: ReportContext, size: int | None, fmt: str
) -> RenderedReport:
    from sequestra.reports import valuation_files

    return valuation_files.build(engine, context.rule_set, size, fmt)


def _exposure(engine: Engine, context: ReportContext, size: int | None, fmt: str) -> RenderedReport:
    from sequestra.reports import exposure

    return exposure.build(engine, context.rule_set, size, fmt)


def _sales(engine: Engine, context: ReportContext, size: int | None, fmt: str) -> RenderedReport:
    from sequestra.reports import sales

    return sales.build(engine, context.rule_set, size, fmt)


def _audit(engine: Engine, context: ReportContext, size: int | None, fmt: str) -> RenderedReport:
    from sequestra.reports import audit

    return audit.build(engine, context, size, fmt)


def compose_reports(rule_set: RuleSet) -> ReportCatalog:
    """The reports by name, in the order people see them listed."""
    return ReportCatalog(
        rule_set,
        {"valuation": _valuation, "exposure": _exposure, "sales": _sales, "audit": _audit},
    )


def _quote_files(connection: Connection, directory: Path, size: int) -> int:
    from sequestra.pricing.export import write_quote_files

    return write_quote_files(connection, directory, size)


# What an export bundle carries beyond the ledger's own files, in every entry point.
BUNDLE_SECTIONS: Final[tuple[BundleSection, ...]] = (_quote_files,)


@dataclass(frozen=True)
class Application:
    """What the entry points share: the rule set, the report catalog, the bundle's sections."""

    rules: RuleSet
    reports: ReportCatalog
    bundle_sections: tuple[BundleSection, ...] = BUNDLE_SECTIONS


@cache
def application() -> Application:
    """The application as composed (made once per process; a value, never changed)."""
    rules = compose_rule_set()
    return Application(rules, compose_reports(rules))


def rule_set() -> RuleSet:
    """The application's rule set (see `compose_rule_set`)."""
    return application().rules
