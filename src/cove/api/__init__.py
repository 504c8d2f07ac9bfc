from cove.api.app import create_api
from cove.api.context import ApiContext

__all__ = ["ApiContext", "create_api"]
