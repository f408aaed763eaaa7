"""The HTTP API: read endpoints over the service functions and the one write, a signed
statement, behind bearer tokens mapped to roles."""

from __future__ import annotations

from sequestra.service.api.app import create_api_app

__all__ = ["create_api_app"]
