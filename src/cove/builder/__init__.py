from cove.builder.buildpacks import BuildFailed, validate_url
from cove.builder.service import Builder
from cove.builder.slug import slug_path
from cove.builder.stack import Stack, discover

__all__ = ["BuildFailed", "Builder", "Stack", "discover", "slug_path", "validate_url"]
