"""RPi.GPIO's constants, for the modules that speak its API without being RPi.GPIO."""
from __future__ import annotations


class RPiGPIOConstants:
    """RPi.GPIO's numbering modes, directions, levels and pulls, with RPi.GPIO's own values:
    a driver written against RPi.GPIO runs unchanged on a class that has these."""

    BOARD = 10
    BCM = 11
    OUT = 0
    IN = 1
    LOW = 0
    HIGH = 1
    PUD_OFF = 20
    PUD_DOWN = 21
    PUD_UP = 22
