from cove.builder.buildpacks import BuildFailed, validate_url
from cove.builder.service import Builder
from cove.builder.slug import ensure_unpacked, remove_slug, slug_path
from cove.builder.stack import Stack, discover

__all__ = [
    "BuildFailed",
    "Builder",
    "Stack",
    "discover",
    "ensure_unpacked",
    "remove_slug",
    "slug_path",
    "validate_url",
]
