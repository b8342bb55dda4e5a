"""The base of every error a user can cause (bad config, bad trace, bad option).

The CLI prints such an error as one line and exits with its ``exit_status``
(2; a subclass may say otherwise); anything else is a bug and keeps its
traceback.
"""


class UserError(Exception):
    """An error in what the user gave us, with a message that says what to fix."""

    #: the command's exit status: 2 tells systemd that restarting cannot fix it
    exit_status = 2


def read_user_text(path, error: type[UserError], what: str = "file") -> str:
    """Read a UTF-8 file a user named; any failure is one ``error`` naming the path."""
    from pathlib import Path

    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise error(f"{p}: cannot read the {what} ({e.__class__.__name__})") from None
