"""The reports' errors: a report that cannot be made says why."""

from __future__ import annotations

from sequestra.errors import Conflict, InputRefused, SequestraError


class ReportError(SequestraError):
    """The report cannot be made; the message says why."""


class ReportRequestError(ReportError, InputRefused):
    """The request names an unknown report or format, or a size outside the ledger."""


class NothingToReport(ReportError, Conflict):
    """The ledger (prefix) does not yet hold what the report needs (no valuation, no Fund)."""
