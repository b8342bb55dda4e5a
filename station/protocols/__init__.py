"""Dexterity protocols: pure state machines scoring a trial from its events."""
from __future__ import annotations

from typing import Any

from station.board_spec import BoardSpec
from station.protocols.base import Protocol, ProtocolError
from station.protocols.coin_drop import CoinDrop
from station.protocols.free_practice import FreePractice
from station.protocols.nine_hole_peg import NineHolePeg
from station.protocols.timed_pegs import TimedPegs

PROTOCOLS: dict[str, type[Protocol]] = {p.name: p for p in (NineHolePeg, CoinDrop, TimedPegs, FreePractice)}


def make_protocol(name: str, board: BoardSpec, options: dict[str, Any] | None = None) -> Protocol:
    """The protocol called ``name`` for ``board``. Raises ProtocolError for an unknown name or option."""
    cls = PROTOCOLS.get(name)
    if cls is None:
        raise ProtocolError(f"unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})")
    return cls(board, **(options or {}))


__all__ = ["PROTOCOLS", "Protocol", "ProtocolError", "make_protocol"]
