from cove.logs.output import READ_CHUNK, ProcessOutput
from cove.logs.router import HISTORY, LogFilter, LogRouter
from cove.logs.stream import OutputStream

__all__ = ["HISTORY", "READ_CHUNK", "LogFilter", "LogRouter", "OutputStream", "ProcessOutput"]
