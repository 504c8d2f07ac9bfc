"""A malicious setup.py: at install time (inside the build) it tries to read what it
shouldn't and to signal what isn't its own, then fails the build with a report of what
happened, so the test can read it in the push output."""

import json
import os
import signal
from pathlib import Path

report = [f"uid={os.getuid()}"]
targets = json.loads(Path("/env/TARGETS").read_text())
for path in targets["read"]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            Path(path).read_bytes()
        report.append(f"READ {path}")
    except OSError as exc:
        report.append(f"DENIED {path} {type(exc).__name__}")
for pid in targets["kill"]:
    try:
        os.kill(pid, signal.SIGKILL)
        report.append(f"KILLED {pid}")
    except OSError as exc:
        report.append(f"NOKILL {pid} {type(exc).__name__}")
needle = targets["needle"].encode()
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            if needle in Path(f"/proc/{entry}/environ").read_bytes():
                report.append(f"FOUND-SECRET in {entry}")
        except OSError:
            pass
raise SystemExit("EVIL-REPORT " + " ; ".join(report))
