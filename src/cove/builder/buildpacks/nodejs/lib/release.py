"""bin/release BUILD_DIR: Heroku's default web process for Node.js apps, `npm start`
(a Procfile's types take precedence)."""

from __future__ import annotations

import sys

RELEASE_YAML = "---\naddons: []\ndefault_process_types:\n  web: npm start\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: bin/release BUILD_DIR", file=sys.stderr)
        return 2
    sys.stdout.write(RELEASE_YAML)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
