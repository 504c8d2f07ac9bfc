"""Cove's HTTP router: Host-based reverse proxy to apps' web dynos (Heroku's router)."""

from cove.router.server import Router
from cove.router.table import Backend, Route, RouteTable, WebState, normalize_host

__all__ = ["Backend", "Route", "RouteTable", "Router", "WebState", "normalize_host"]
