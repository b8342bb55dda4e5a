"""station.config_write: values written back into station.toml atomically, comments kept,
never a config the station could not start with."""
from __future__ import annotations

import os
import tomllib

import pytest

from station import config_write
from station.config import default_config_text, load_config
from station.config_write import ConfigWriteError, update_config


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "station.toml"
    p.write_text(default_config_text(), encoding="utf-8")
    os.chmod(p, 0o640)
    return p


def test_values_are_written_with_comments_and_mode_kept(cfg):
    update_config(cfg, {("cells", "dish", "offset"): 51234.5})
    text = cfg.read_text(encoding="utf-8")
    assert "# HX711 under the peg dish" in text
    assert load_config(cfg).cells["dish"].offset == 51234.5
    assert os.stat(cfg).st_mode & 0o777 == 0o640
    assert not list(cfg.parent.glob(".*.tmp"))


def test_a_missing_table_is_refused_unless_asked_to_create_it(cfg):
    text = cfg.read_text(encoding="utf-8")
    start = text.index("[wiring]")
    cfg.write_text(text[:start], encoding="utf-8")  # [wiring] is the last table
    with pytest.raises(ConfigWriteError, match=r"no \[wiring\] table"):
        update_config(cfg, {("wiring", "hole_colour"): "red"})
    update_config(cfg, {("wiring", "hole_colour"): "red"}, create_tables=True)
    assert tomllib.loads(cfg.read_text())["wiring"]["hole_colour"] == "red"


def test_a_value_that_would_break_the_config_is_not_written(cfg):
    before = cfg.read_bytes()
    with pytest.raises(ConfigWriteError, match="would make"):
        update_config(cfg, {("cells", "dish", "counts_per_gram"): "heavy"})
    assert cfg.read_bytes() == before


def test_a_failed_replace_leaves_the_old_file_and_no_temporary(cfg, monkeypatch):
    before = cfg.read_bytes()

    def no_space(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_write.os, "replace", no_space)
    with pytest.raises(ConfigWriteError, match="No space left"):
        update_config(cfg, {("cells", "dish", "offset"): 1.0})
    assert cfg.read_bytes() == before
    assert not list(cfg.parent.glob(".*.tmp"))
