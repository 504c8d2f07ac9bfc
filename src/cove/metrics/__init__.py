"""Application metrics that Cove records itself (the dashboard's Metrics tab): the router's
requests (status classes, response times, H errors) and the dyno manager's memory checks
(memory per dyno, R errors), aggregated per app and minute in memory and kept in the store
for a day."""

from cove.metrics.recorder import AppPoint, Recorder

__all__ = ["AppPoint", "Recorder"]
