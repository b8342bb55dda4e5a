"""Station: an instrumented dexterity station (pegboard, peg dish, coin tray)."""

__version__ = "0.1.0"
