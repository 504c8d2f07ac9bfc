"""bin/detect BUILD_DIR: print "Node.js" and exit 0 if the app has a package.json."""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: bin/detect BUILD_DIR", file=sys.stderr)
        return 2
    if os.path.isfile(os.path.join(argv[0], "package.json")):
        print("Node.js")
        return 0
    print("A Node.js app needs a package.json at the root of its repository.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
