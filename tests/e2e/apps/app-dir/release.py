"""The release command writes into /app too: the web dynos must not see it."""

import os
from pathlib import Path

Path("/app/logs").mkdir(exist_ok=True)
Path(f"/app/logs/{os.environ['DYNO']}.log").write_text("release phase was here\n")
print("release wrote /app/logs", flush=True)
