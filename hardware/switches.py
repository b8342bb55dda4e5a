"""Hole switches and push buttons, read through a gpiozero pin factory.

Every switch is a raw gpiozero ``Pin`` (not an ``InputDevice``): we want the
raw edges with the factory's tick for each, not gpiozero's debounced
``is_active``. The pin factory is always injected (lgpio on the Pi, MockFactory
or ``hardware.sim.pins.VirtualPinFactory`` in tests and the simulator).

Timing: an edge is stamped with the ticks the factory passes to
``when_changed`` (under lgpio the kernel's CLOCK_MONOTONIC event timestamp,
converted to seconds by gpiozero), never with a clock read inside the
callback, which runs late by however long the interpreter took to get there.

``bounce_time`` stays None: lgpio's debounce stamps an edge *debounce* later
than it happened and swallows pulses shorter than it, and the pipeline
(``station.debounce``) needs every raw edge to time a change at the start of
its bounce burst.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from gpiozero.pins import Factory, Pin

from station.events import Edge


class _PinWatch:
    """One pin's edge handler.

    gpiozero keeps ``when_changed`` as a weak reference (a ``WeakMethod`` for a
    bound method): a lambda or closure handed to it is collected and silently
    stops firing. So each pin gets this small object, kept alive by the
    ``SwitchBank``, and its bound method is what gpiozero holds.
    """

    __slots__ = ("gpio", "emit", "__weakref__")

    def __init__(self, gpio: int, emit: Callable[[Edge], None]) -> None:
        self.gpio = gpio
        self.emit = emit

    def changed(self, ticks: float, state: int | bool) -> None:
        self.emit(Edge(float(ticks), self.gpio, 1 if state else 0))


class SwitchBank:
    """The station's switches (holes and buttons) on one pin factory.

    ``on_edge`` is called with an ``Edge`` for every raw level change, from
    whatever thread the pin factory delivers edges on (lgpio: its own
    callback thread; mock factories: the thread that drives the pin). With
    ``active_low`` the pins are pulled up and a closed switch reads 0;
    otherwise they are pulled down and a closed switch reads 1.
    """

    def __init__(self, pin_factory: Factory, gpios: Iterable[int], *, active_low: bool,
                 on_edge: Callable[[Edge], None]) -> None:
        self.factory = pin_factory
        self.active_low = active_low
        self.on_edge = on_edge
        self._pins: dict[int, Pin] = {}
        self._watches: dict[int, _PinWatch] = {}  # strong references: see _PinWatch
        try:
            for gpio in gpios:
                self._open(int(gpio))
        except BaseException:
            self.close()
            raise

    def _open(self, gpio: int) -> None:
        if gpio in self._pins:
            raise ValueError(f"GPIO {gpio} is listed twice")
        pin = self.factory.pin(gpio)
        self._pins[gpio] = pin
        pin.function = "input"
        pin.pull = "up" if self.active_low else "down"
        pin.bounce = None
        pin.edges = "both"
        watch = _PinWatch(gpio, self._emit)
        self._watches[gpio] = watch
        pin.when_changed = watch.changed

    def _emit(self, edge: Edge) -> None:
        # Looked up at call time so the owner may swap ``on_edge``.
        self.on_edge(edge)

    @property
    def gpios(self) -> tuple[int, ...]:
        return tuple(self._pins)

    @property
    def closed_level(self) -> int:
        """The level a closed switch reads."""
        return 0 if self.active_low else 1

    def level(self, gpio: int) -> int:
        """The pin's current raw level (0 or 1), read now."""
        return 1 if self._pins[gpio].state else 0

    def levels(self) -> dict[int, int]:
        """Every pin's current raw level (for the self-test: a switch stuck closed)."""
        return {g: self.level(g) for g in self._pins}

    def closed(self, gpio: int) -> bool:
        """Whether the switch on ``gpio`` reads closed right now (no debouncing)."""
        return self.level(gpio) == self.closed_level

    def close(self) -> None:
        """Stop edge callbacks and release the pins. Safe to call twice."""
        for pin in list(self._pins.values()):
            try:
                pin.when_changed = None
            finally:
                pin.close()
        self._pins.clear()
        self._watches.clear()

    def __enter__(self) -> SwitchBank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
