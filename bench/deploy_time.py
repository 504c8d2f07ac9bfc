"""Push-to-serving time of the seed's Flask hello app, cold and warm, beside the reference
a Heroku-style build pays for the same dependencies (`python -m venv` + `pip install`).

    .venv/bin/python bench/deploy_time.py [--warm-runs 5] [--json out.json]

"Cold": a new app (empty build cache: packages are downloaded). "Warm": a code change
only. Each is measured from the start of `git push` until the router serves the new text.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness import CoveServer, User, server_env, wait_for


def serving(server: CoveServer, app: str, text: str) -> bool:
    response = server.get(app)
    return response.status_code == 200 and response.text == text


def timed_push(user: User, server: CoveServer, repo: Path, app: str, text: str) -> float:
    start = time.perf_counter()
    user.push(repo)
    wait_for(lambda: serving(server, app, text), 120, interval=0.005, what=text)
    return time.perf_counter() - start


def reference_install(requirements: Path, work: Path, python: str) -> dict[str, float]:
    """A Heroku-style build's dependency step: a fresh venv, then pip (cold = no cache)."""
    times = {}
    for label, extra in (("cold", ["--no-cache-dir"]), ("warm", [])):
        venv = work / f"venv-{label}"
        start = time.perf_counter()
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin/pip"), "install", "-q", "-r", str(requirements), *extra], check=True
        )
        times[label] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--json")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = CoveServer(root / "cove", root / "server.log", server_env(root / "cove"))
        server.start()
        try:
            (root / "dev").mkdir()
            user = User(root / "dev", server)
            user.cove("login", "--token", server.admin_token)
            repo = user.new_repo("flask-hello")
            user.cove("apps:create", "bench-hello", cwd=repo)
            cold = timed_push(user, server, repo, "bench-hello", "Hello World!")
            warm = []
            for i in range(args.warm_runs):
                text = f"Hello version {i}!"
                (repo / "app.py").write_text(
                    (repo / "app.py").read_text().replace("Hello World!", text)
                    if i == 0
                    else (repo / "app.py").read_text().replace(f"Hello version {i - 1}!", text)
                )
                user.commit_all(repo, text)
                warm.append(timed_push(user, server, repo, "bench-hello", text))
        finally:
            server.stop()
        reference = reference_install(repo / "requirements.txt", root, args.python)

    results = {
        "cove_cold_push_to_serving_s": round(cold, 3),
        "cove_warm_push_to_serving_s_median": round(statistics.median(warm), 3),
        "cove_warm_push_to_serving_s_all": [round(w, 3) for w in warm],
        "reference_venv_pip_cold_s": round(reference["cold"], 3),
        "reference_venv_pip_warm_s": round(reference["warm"], 3),
    }
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(
        f"ratio cold (cove push-to-serving / venv+pip install): "
        f"{cold / reference['cold']:.2f}; warm: {statistics.median(warm) / reference['warm']:.2f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
