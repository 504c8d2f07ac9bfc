from cove.gitreceiver.http_backend import router
from cove.gitreceiver.repos import ensure_repo, remove_repo

__all__ = ["ensure_repo", "remove_repo", "router"]
