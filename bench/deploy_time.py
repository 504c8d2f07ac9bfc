"""Push-to-serving time of the seed Flask app and a Django + whitenoise app, cold and warm,
beside `python -m venv` + `pip install` of the same requirements.

    .venv/bin/python bench/deploy_time.py [--quick] [--json out.json]

Kept for muscle memory: it is `bench/run deploy` (see bench/README.md, bench/suite/deploy.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.suite.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main(["deploy", *sys.argv[1:]]))
