"""Rendering pages: the Jinja2 environment (autoescape on, strict undefined), the figure
filters, and the headers every page carries (no script, no framing, no caching)."""

from __future__ import annotations

import functools
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from sequestra.reports.catalog import REPORT_FORMATS
from sequestra.service.web.figures import exact, money, percent

PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make forms send `Origin: null`
    "Cache-Control": "no-store",
}


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("sequestra.service.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["exact"] = exact
    env.filters["percent"] = percent
    env.globals["report_formats"] = REPORT_FORMATS
    return env


def render_page(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """The template rendered with `context` (every value escaped unless marked safe)."""
    html = environment().get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def error_page(
    request: Request, status_code: int, title: str, message: str, viewer: Any = None
) -> HTMLResponse:
    """A page that says what went wrong, with the status it answers."""
    return render_page(
        request,
        "error.html",
        status_code,
        title=title,
        message=message,
        viewer=viewer,
        report_kind=None,
    )
