"""The daemon's tick slows between trials only when nothing needs the samples promptly (issue 14)."""
from __future__ import annotations

from hardware.sim.hardware import SimulatedHardware
from station.config import load_config
from station.daemon.service import IDLE_TICK_S, TICK_S, Daemon


def _daemon(tmp_path) -> Daemon:
    config = load_config(None)
    return Daemon(config, tmp_path / "data", tmp_path / "station.sock",
                  SimulatedHardware(config, seed=1, respond=False))


def test_an_idle_station_ticks_slowly(tmp_path):
    assert IDLE_TICK_S > TICK_S
    assert _daemon(tmp_path)._tick_every() == IDLE_TICK_S


def test_a_command_waiting_on_samples_gets_the_fast_tick(tmp_path):
    d = _daemon(tmp_path)
    d.waiters.samples.append(("dish", [], 10, None))  # as SensorWaiters.collect queues one
    assert d._tick_every() == TICK_S
    d.waiters.samples.clear()
    assert d._tick_every() == IDLE_TICK_S


def test_a_sensors_subscriber_gets_the_fast_tick(tmp_path, monkeypatch):
    d = _daemon(tmp_path)
    monkeypatch.setattr(d.server, "has_subscribers", lambda topic: topic == "sensors")
    assert d._tick_every() == TICK_S


def test_an_armed_or_running_trial_gets_the_fast_tick(tmp_path, monkeypatch):
    d = _daemon(tmp_path)
    monkeypatch.setattr(d.trials, "live", object())  # what arming sets (the live trial)
    assert d._tick_every() == TICK_S
