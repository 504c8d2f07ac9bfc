"""Release command: prints where it runs, and fails when RELEASE_EXIT says so."""

import os
import sys

print(f"release command running in {os.environ['DYNO']} with GREETING={os.environ.get('GREETING')}")
sys.exit(int(os.environ.get("RELEASE_EXIT", "0")))
