"""Subcommands of ``station``: one module each, found by ``station.cli``."""
