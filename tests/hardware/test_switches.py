"""Hole switches and buttons on gpiozero pins (MockFactory and its simulated-time variant)."""
from __future__ import annotations

import gc

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from hardware.sim.clock import VirtualClock
from hardware.sim.pins import VirtualMockPin, VirtualPinFactory
from hardware.switches import SwitchBank
from station.events import Edge

PINS = (5, 6, 13, 17)


@pytest.fixture
def mock_factory():
    """A private MockFactory (never gpiozero's global Device.pin_factory)."""
    factory = MockFactory()
    yield factory
    factory.reset()


@pytest.fixture
def virtual():
    """A VirtualPinFactory on a VirtualClock at t = 100 s."""
    clock = VirtualClock(100.0)
    factory = VirtualPinFactory(clock.now)
    yield clock, factory
    factory.reset()


class _FixedTickPin(MockPin):
    """A pin whose factory reports every edge at a tick unrelated to any clock."""

    tick = 4242.5

    def _call_when_changed(self):
        self._when_changed()(self.tick, self._state)


def test_edges_carry_the_factorys_ticks_not_a_clock_read_in_the_callback():
    factory = MockFactory(pin_class=_FixedTickPin)
    got: list[Edge] = []
    bank = SwitchBank(factory, PINS, active_low=True, on_edge=got.append)
    factory.pin(5).drive_low()
    assert got == [Edge(4242.5, 5, 0)]
    bank.close()


def test_plain_mockfactory_edges_are_delivered_with_their_levels(mock_factory):
    got: list[Edge] = []
    bank = SwitchBank(mock_factory, PINS, active_low=True, on_edge=got.append)
    pin = mock_factory.pin(13)
    pin.drive_low()
    pin.drive_high()
    assert [(e.gpio, e.level) for e in got] == [(13, 0), (13, 1)]
    assert got[0].t <= got[1].t
    bank.close()


def test_virtual_factory_stamps_edges_with_simulated_time(virtual):
    clock, factory = virtual
    got: list[Edge] = []
    bank = SwitchBank(factory, PINS, active_low=True, on_edge=got.append)
    clock.set(101.25)
    factory.pin(6).drive_low()
    assert got == [Edge(101.25, 6, 0)]
    # An edge delivered late (the simulator was busy) keeps the time it happened,
    # as the kernel's timestamp does under lgpio.
    clock.set(102.0)
    factory.pin(6).drive(1, 101.9995)
    assert got[-1] == Edge(101.9995, 6, 1)
    assert isinstance(factory.pin(6), VirtualMockPin)
    assert factory.ticks() == 102.0
    bank.close()


def test_every_edge_of_a_bounce_burst_is_reported_in_order(virtual):
    clock, factory = virtual
    got: list[Edge] = []
    bank = SwitchBank(factory, PINS, active_low=True, on_edge=got.append)
    burst = [(100.0001, 0), (100.00015, 1), (100.0009, 0), (100.0031, 1), (100.0032, 0)]
    for t, level in burst:
        clock.set(t)
        factory.pin(5).drive(level, t)
    assert [(e.t, e.level) for e in got] == burst
    assert all(e.gpio == 5 for e in got)
    bank.close()


@pytest.mark.parametrize("active_low, pull, idle, closed", [(True, "up", 1, 0), (False, "down", 0, 1)])
def test_polarity_sets_the_pull_and_what_closed_reads(mock_factory, active_low, pull, idle, closed):
    bank = SwitchBank(mock_factory, PINS, active_low=active_low, on_edge=lambda e: None)
    for gpio in PINS:
        pin = mock_factory.pin(gpio)
        assert pin.function == "input"
        assert pin.pull == pull
        assert pin.bounce is None  # debouncing is the pipeline's (see hardware.switches)
        assert pin.edges == "both"
    assert bank.levels() == {g: idle for g in PINS}
    assert bank.closed_level == closed
    assert not any(bank.closed(g) for g in PINS)
    # a switch stuck closed shows in the levels (the self-test's check)
    if closed:
        mock_factory.pin(13).drive_high()
    else:
        mock_factory.pin(13).drive_low()
    assert bank.level(13) == closed and bank.closed(13)
    assert [g for g in PINS if bank.closed(g)] == [13]
    bank.close()


def test_callbacks_survive_garbage_collection(mock_factory):
    """gpiozero holds when_changed weakly; the bank keeps its handlers alive."""
    got: list[Edge] = []
    bank = SwitchBank(mock_factory, PINS, active_low=True, on_edge=got.append)
    gc.collect()
    mock_factory.pin(17).drive_low()
    assert [(e.gpio, e.level) for e in got] == [(17, 0)]
    bank.close()


def test_the_weakref_pitfall_is_real(mock_factory):
    """Why the bank keeps references: a lambda given to when_changed stops firing once collected."""
    got = []
    pin = mock_factory.pin(26)
    pin.function = "input"
    pin.when_changed = lambda ticks, state: got.append(state)
    gc.collect()
    pin.drive_low()
    assert got == []


def test_on_edge_can_be_swapped(mock_factory):
    first, second = [], []
    bank = SwitchBank(mock_factory, PINS, active_low=True, on_edge=first.append)
    mock_factory.pin(5).drive_low()
    bank.on_edge = second.append
    mock_factory.pin(5).drive_high()
    assert len(first) == 1 and len(second) == 1
    bank.close()


def test_close_stops_callbacks_and_is_idempotent(mock_factory):
    got = []
    bank = SwitchBank(mock_factory, PINS, active_low=True, on_edge=got.append)
    bank.close()
    bank.close()
    mock_factory.pin(5).drive_low()
    assert got == []
    assert bank.gpios == ()


def test_a_pin_listed_twice_is_refused_and_nothing_stays_open(mock_factory):
    got = []
    with pytest.raises(ValueError, match="GPIO 5 is listed twice"):
        SwitchBank(mock_factory, [5, 6, 5], active_low=True, on_edge=got.append)
    mock_factory.pin(6).drive_low()
    assert got == []  # the pins opened before the error were closed again
