"""One line on the therapist screen: how the delivery of finished tests to the clinic's FHIR server goes."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def delivery_line(fhir: Mapping[str, Any] | None) -> str:
    """From ``state["fhir"]`` (docs/api.md); "" when no server is configured."""
    if not fhir:
        return ""
    c = fhir.get("counts") or {}
    pending, sent, rejected = c.get("pending", 0), c.get("sent", 0), c.get("rejected", 0)
    parts = [f"Record system: {sent} test{'s' if sent != 1 else ''} sent"]
    if pending:
        parts.append(f"{pending} waiting" + (f" ({fhir['last_error']})" if fhir.get("last_error") else ""))
    if rejected:
        ids = ", ".join(str(t) for t in fhir.get("rejected") or [])
        parts.append(f"{rejected} refused by the server (test {ids}): ask the technician")
    return "; ".join(parts) + "."
