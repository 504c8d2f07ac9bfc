"""Pick the app's package manager from the files in the app root, and sanity-check the source."""

from __future__ import annotations

import os

from output import BuildError

# File that selects each package manager, in the order they're reported.
PACKAGE_MANAGER_FILES = {
    "pip": "requirements.txt",
    "pipenv": "Pipfile.lock",
    "poetry": "poetry.lock",
    "uv": "uv.lock",
}
# No package manager file, but a standard project we can install with `uv pip install .`.
PROJECT_FILES = ("pyproject.toml", "setup.py")
PROJECT = "project"


def check_app_source(build_dir: str, venv_mounted: bool = False) -> None:
    """Reject committed virtualenvs / Python installs, which would be broken at run time.
    ``venv_mounted``: .heroku/python is Cove's mount of the cached venv (Cove mounts it only
    where the source has no such path)."""
    for name in (".venv", "venv"):
        if os.path.isfile(os.path.join(build_dir, name, "pyvenv.cfg")):
            raise BuildError(
                f"A Python virtual environment was found in the app source: {name}/\n"
                "\n"
                "Virtual environments aren't portable and mustn't be committed. Remove it with\n"
                f"'git rm -r --cached {name}', add '{name}/' to .gitignore and push again; the\n"
                "buildpack creates the environment itself."
            )
    if not venv_mounted and os.path.exists(os.path.join(build_dir, ".heroku", "python")):
        raise BuildError(
            "The app source contains a .heroku/python directory.\n"
            "\n"
            "That path is reserved for the Python environment the buildpack creates. Remove it\n"
            "from the repository ('git rm -r --cached .heroku/python') and push again."
        )


def determine(build_dir: str) -> str:
    """Return "pip", "pipenv", "poetry", "uv" or "project" (pyproject.toml / setup.py only)."""
    found = [
        (manager, filename)
        for manager, filename in PACKAGE_MANAGER_FILES.items()
        if os.path.isfile(os.path.join(build_dir, filename))
    ]
    if len(found) == 1:
        return found[0][0]
    if len(found) > 1:
        listed = "\n".join(f"  {filename}" for _, filename in found)
        raise BuildError(
            "Multiple Python package manager files were found:\n"
            "\n"
            f"{listed}\n"
            "\n"
            "Exactly one package manager must be used, otherwise it's ambiguous which set of\n"
            "dependencies gets installed. Delete the files of the package managers you don't use\n"
            "(and make sure the remaining one lists every dependency)."
        )
    if os.path.isfile(os.path.join(build_dir, "Pipfile")):
        raise BuildError(
            "No 'Pipfile.lock' found!\n"
            "\n"
            "A Pipfile was found, but not its lock file. Generate it with 'pipenv lock',\n"
            "commit Pipfile.lock and push again."
        )
    if any(os.path.isfile(os.path.join(build_dir, name)) for name in PROJECT_FILES):
        return PROJECT
    try:
        entries = sorted(os.listdir(build_dir))
    except OSError:
        entries = []
    listing = "\n".join(
        f"  {name}/" if os.path.isdir(os.path.join(build_dir, name)) else f"  {name}"
        for name in entries
    )
    raise BuildError(
        "Couldn't find any supported Python package manager files.\n"
        "\n"
        "A Python app must list its dependencies in one of: requirements.txt (pip),\n"
        "Pipfile.lock (pipenv), poetry.lock (Poetry), uv.lock (uv), or be a project with a\n"
        "pyproject.toml or setup.py. The app root contains:\n"
        "\n" + (listing or "  (nothing)")
    )
