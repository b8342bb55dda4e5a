"""Shared fixtures (paths to the example data are in tests/support.py)."""
from __future__ import annotations

import pytest

from station.board_spec import BoardSpec, CellSpec
from station.loadcell import Calibration


@pytest.fixture
def board() -> BoardSpec:
    """Nine holes, a start button, a dish with nine pegs and an empty tray."""
    return BoardSpec(
        holes=(5, 6, 13, 19, 26, 12, 16, 20, 21),
        buttons={"start": 17},
        active_low=True,
        settle_ms=10.0,
        cells={
            "dish": CellSpec("dish", Calibration(52000.0, 420.0, 1.1, 80.0), 9),
            "tray": CellSpec("tray", Calibration(-13000.0, 405.0, 5.67, 80.0), 0),
        },
    )


@pytest.fixture
def station_toml(tmp_path):
    """The shipped station.toml copied to ``tmp_path``: for what writes into its config
    (calibration, PINs) or reads one from a path."""
    from station.config import default_config_text

    path = tmp_path / "station.toml"
    path.write_text(default_config_text(), encoding="utf-8")
    return path
