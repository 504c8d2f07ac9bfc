"""The one question the heroku CLI asks Heroku's buildpack registry, answered for Cove's
built-in buildpacks: ``heroku buildpacks:add heroku/nodejs`` first looks the name up
(``GET $HEROKU_BUILDPACK_REGISTRY_URL/buildpacks/heroku%2Fnodejs``) and installs the URL it
gets. ``cove heroku-env`` points that variable here, so the lookup stays on this server.
Public, as the registry's lookup is: it says which buildpacks are built in, nothing else."""

from __future__ import annotations

from fastapi import APIRouter

from cove.builder.buildpacks import BUILTIN, builtin_name
from cove.domain.errors import NotFound

router = APIRouter()

# The registry's own tarball URL of a buildpack, as the CLI would install it from Heroku.
REGISTRY_BLOB = "https://buildpack-registry.s3.amazonaws.com/buildpacks/{}.tgz"


def blob_url(name: str) -> str:
    """The URL the CLI installs for ``name``: the registry's, when Cove reads it as that
    built-in (the CLI then shows it by name, as it does Heroku's), else the name itself."""
    url = REGISTRY_BLOB.format(name)
    return url if builtin_name(url) == name else name


@router.get("/buildpacks/{namespace}/{name}", include_in_schema=False)
def registry_buildpack(namespace: str, name: str) -> dict[str, str]:
    slug = f"{namespace}/{name}"
    if slug not in BUILTIN:
        raise NotFound(
            f"{slug} is not a built-in buildpack of this Cove server: use one of "
            f"{', '.join(sorted(BUILTIN))}, or a file:// URL of a buildpack directory."
        )
    return {"namespace": namespace, "name": name, "blob_url": blob_url(slug)}
