from cove.dynos.backend import Backend, DynoHandle, DynoSpec
from cove.dynos.local import LocalBackend
from cove.dynos.manager import DynoManager
from cove.dynos.release_phase import ReleasePhase

__all__ = ["Backend", "DynoHandle", "DynoManager", "DynoSpec", "LocalBackend", "ReleasePhase"]
