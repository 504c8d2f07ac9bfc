from cove.logs.router import HISTORY, LogFilter, LogRouter

__all__ = ["HISTORY", "LogFilter", "LogRouter"]
