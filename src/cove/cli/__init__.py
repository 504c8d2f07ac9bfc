"""The `cove` command line (its entry point is cove.cli.main)."""

import sys

# httpx's own command line (which imports pygments and more of rich) is never used here:
# without it every `cove` command starts ~40 ms sooner. httpx falls back to a stub when
# importing it fails, which a None entry in sys.modules makes it do.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
