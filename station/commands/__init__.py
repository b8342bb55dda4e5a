"""Subcommands of ``station``: one module each, found by ``station.cli``; below, the options
and the output file several of them share."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any


def add_config_option(parser) -> None:
    """``--config FILE``: the station.toml to read."""
    parser.add_argument("--config", metavar="FILE", help="station.toml (default: the shipped default)")


def add_records_options(parser) -> None:
    """``--data DIR`` and ``--config FILE``: the stored records to read (see ``records_dir``)."""
    parser.add_argument("--data", metavar="DIR",
                        help="the records directory (default: [daemon] data_dir of the config)")
    add_config_option(parser)


def records_dir(args) -> str:
    """The records directory: ``--data``, or else ``[daemon] data_dir`` of ``--config``."""
    if args.data is not None:
        return str(args.data)
    from station.config import load_config

    return str(load_config(args.config).section("daemon")["data_dir"])


@contextmanager
def output_file(path: str, *, force: bool, binary: bool = False) -> Iterator[IO[Any]]:
    """``--out FILE`` for patient data (``station.records.export.PrivateFile``): created mode 0600,
    an existing file (without ``force``) or a directory refused with one message, and made
    the final file only when the block completes. A note on standard error when its file
    system cannot make it private."""
    from station.records.export import PrivateFile

    with PrivateFile(path, replace=force, binary=binary) as out:
        yield out.file
    if not out.private:
        print(f"note: {path} is on a file system without file permissions (a USB stick?): "
              "it could not be made private (0600)", file=sys.stderr)
