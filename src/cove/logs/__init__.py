from cove.logs.router import HISTORY, LogFilter, LogRouter
from cove.logs.stream import OutputStream

__all__ = ["HISTORY", "LogFilter", "LogRouter", "OutputStream"]
