"""Cove: a self-hosted Heroku."""

import sys

# httpx's own command line (which imports pygments and more of rich) is never used by
# Cove: without it every `cove` command starts ~40 ms sooner, a server ~0.1 s. httpx
# falls back to a stub when importing it fails, which a None entry in sys.modules makes.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
