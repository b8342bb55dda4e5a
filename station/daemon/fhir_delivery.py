"""The daemon's FHIR delivery as ``[fhir]`` configures it: a ``FhirSender`` on ``<data>/outbox``, or None.

Nothing is built, imported or sent unless ``[fhir] base_url`` is set (fhir.resources is imported
only then): a station that is not configured sends nothing and opens no connection.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from station.config import Config

if TYPE_CHECKING:
    from station.daemon.fhir_sender import FhirSender


def fhir_delivery(config: Config, data_dir: str | os.PathLike, *, changed: Callable[[], None]) -> FhirSender | None:
    """The sender for ``config``'s ``[fhir]`` section (not started: ``open`` and ``run`` it), or None."""
    fhir = config.section("fhir")
    if not fhir["base_url"]:
        return None
    from station.daemon.fhir_sender import FhirSender
    from station.fhir.bundle import StationInfo
    from station.records.outbox import Outbox

    return FhirSender(outbox=Outbox(Path(data_dir) / "outbox"), base_url=fhir["base_url"],
                      station=StationInfo.from_config(config), credentials_file=fhir["credentials_file"] or None,
                      changed=changed)
