"""Stable ids for the add-on services and plans Cove offers (the Platform API names every
service and plan by a UUID; Cove derives them from the names, so they never change)."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1c7f2e-4f0a-4c8e-9a53-2f0d6c1b7a10")  # Cove's add-on catalogue


def service_id(service: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, service))


def plan_id(service: str, plan: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{service}:{plan}"))
