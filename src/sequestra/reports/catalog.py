"""Every report by name: a `ReportCatalog` renders a report's bytes, the file name to save
them under and the checkpoint (tree size and root) they were computed from.

The catalog is a value the composition (`sequestra.composition`) makes with the application's
rule set and report builders; the command line (`sequestra report`), the API's downloads and
the web pages all render through it, so a report downloaded from any of them is the same file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from sqlalchemy import Engine

from sequestra.ledger.policy import TrustPolicy
from sequestra.ledger.replay import CLOCK_SKEW_S_DEFAULT
from sequestra.ledger.rules import RuleSet
from sequestra.reports.errors import ReportRequestError

REPORT_FORMATS: Final = ("json", "csv", "xlsx", "pdf")
MEDIA_TYPES: Final = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class RenderedReport:
    kind: str
    format_name: str
    data: bytes
    tree_size: int
    root_sha256: str
    summary: str  # one line for people: what the report covers

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.tree_size}.{self.format_name}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format_name]


@dataclass(frozen=True)
class ReportContext:
    """What a report is judged by besides the ledger: the rule set its entries are read
    under, and the trust policy its checkpoints' cosignatures are judged by (None: no
    policy, and the report says they were not checked)."""

    rule_set: RuleSet
    policy: TrustPolicy | None = None
    clock_skew_s: int = CLOCK_SKEW_S_DEFAULT  # [ledger] clock_skew_s_max, as verify uses


# A builder takes the engine, the context, the prefix size (None: the whole ledger) and a
# format, and returns the rendered report; it raises ReportError when it cannot be made.
Builder = Callable[[Engine, ReportContext, int | None, str], RenderedReport]


@dataclass(frozen=True)
class ReportCatalog:
    """The reports by name, made under one rule set (and the trust policy, if any, that
    judges the checkpoints' cosignatures: see `judged_by`)."""

    rule_set: RuleSet
    builders: Mapping[str, Builder]
    policy: TrustPolicy | None = None
    clock_skew_s: int = CLOCK_SKEW_S_DEFAULT

    def __post_init__(self) -> None:
        object.__setattr__(self, "builders", MappingProxyType(dict(self.builders)))

    def judged_by(
        self, policy: TrustPolicy | None, clock_skew_s: int = CLOCK_SKEW_S_DEFAULT
    ) -> ReportCatalog:
        """The same reports, with cosignatures judged by `policy` and times checked with
        the ledger's clock skew (the server's settings)."""
        return replace(self, policy=policy, clock_skew_s=clock_skew_s)

    def kinds(self) -> tuple[str, ...]:
        return tuple(self.builders)

    def render(
        self, engine: Engine, kind: str, format_name: str, size: int | None = None
    ) -> RenderedReport:
        """The report `kind` over the ledger's first `size` entries (default all).

        Raises ReportRequestError naming the field for an unknown kind or format or a size
        outside the ledger; NothingToReport when the ledger does not yet hold what the
        report needs.
        """
        builder = self.builders.get(kind)
        if builder is None:
            raise ReportRequestError(
                f"report: expected one of {', '.join(self.builders)}, got {kind!r:.40}"
            )
        if format_name not in REPORT_FORMATS:
            raise ReportRequestError(
                f"format: expected one of {', '.join(REPORT_FORMATS)}, got {format_name!r:.40}"
            )
        context = ReportContext(self.rule_set, self.policy, self.clock_skew_s)
        return builder(engine, context, size, format_name)
