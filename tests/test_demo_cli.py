"""`station demo`, `check-config` and `export` around the demo: one message naming the key, status 2;
the demo's records found; its daemon gone when the terminal closes."""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.cli import main
from station.config import default_config_text

ROOT = Path(__file__).resolve().parents[1]


def test_demo_with_an_unknown_protocol_says_so_before_starting_anything(tmp_path, capsys):
    assert main(["demo", "--protocol", "nope", "--data", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("station demo: --protocol: unknown protocol 'nope'") and "nine-hole-peg" in err
    assert not (tmp_path / "d").exists()  # no daemon, no records directory


def test_check_config_names_a_missing_norm_file(tmp_path):
    config = tmp_path / "station.toml"
    config.write_text(default_config_text().replace('norms = ""', f'norms = "{tmp_path}/clinic-norms.csv"'))
    assert f"{tmp_path}/clinic-norms.csv" in config.read_text()
    r = subprocess.run([sys.executable, "-m", "station", "check-config", "--config", str(config)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"station check-config: {config}: scoring.norms: "
                                f"{tmp_path}/clinic-norms.csv: no such norm file")


def test_export_without_data_says_where_the_demos_records_are(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    records = tmp_path / "share" / "station-demo" / "records"
    records.mkdir(parents=True)
    config = tmp_path / "station.toml"
    config.write_text(default_config_text().replace('data_dir = "/var/lib/station"',
                                                    f'data_dir = "{tmp_path}/nothing-here"'))
    assert main(["export", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "no station records in" in err and f"the demo's records are in {records}" in err
    assert f"station export --data {records}" in err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")
def test_closing_the_terminal_stops_the_demos_daemon(tmp_path):
    from tests.ui.test_demo_tmux import Tmux, daemon_processes, daemons_using

    data = tmp_path / "demo-data"
    tmux = Tmux(f"station-hup-{os.getpid()}")
    tmux.start(f"cd {ROOT} && {sys.executable} -m station demo --data {data} --speed 4 --seed 3")
    try:
        tmux.wait_for("hands-free demo")
        pids = list(daemon_processes(data))
        assert pids
        pidfds = [os.pidfd_open(pid) for pid in pids]
    finally:
        tmux.close()  # the terminal closes: its processes get SIGHUP
    try:
        # a pidfd turns readable when its process exits: wait on that (the limit only stops a hang)
        end = time.monotonic() + 20
        waiting = list(pidfds)
        while waiting:
            gone, _, _ = select.select(waiting, [], [], max(0.0, end - time.monotonic()))
            assert gone, f"the demo's daemon outlived its terminal: {daemons_using(data)}"
            waiting = [fd for fd in waiting if fd not in gone]
    finally:
        for fd in pidfds:
            os.close(fd)
    assert daemons_using(data) == []
    from station.records.store import RecordStore

    with RecordStore(data / "records") as store:  # the writer's lock was let go
        assert store.has_patient("DEMO-1")

