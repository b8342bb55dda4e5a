"""The base of every error a user can cause (bad config, bad trace, bad option).

The CLI prints such an error as one line and exits with its ``exit_status``
(2; 69 for the hardware); anything else is a bug and keeps its traceback.
"""

#: A user error: a bad option or configuration. Retrying cannot fix it, so
#: systemd's RestartPreventExitStatus= names this status alone.
EXIT_USER_ERROR = 2
#: The station's hardware is unavailable (GPIO chip busy, no permission, not a
#: Pi, the load cells' child process failed). BSD sysexits' EX_UNAVAILABLE,
#: which ``systemctl status`` shows as "status=69/UNAVAILABLE"; it may clear
#: (the chip freed, a cable reseated), so systemd restarts the daemon with
#: back-off.
EXIT_HARDWARE_UNAVAILABLE = 69


class UserError(Exception):
    """An error in what the user gave us, with a message that says what to fix."""

    exit_status = EXIT_USER_ERROR


class HardwareError(UserError):
    """The station's hardware cannot be opened or stopped working (not a Pi, chip busy, missing
    GPIO library, the load cells' child process failed): one clear line, exit 69."""

    exit_status = EXIT_HARDWARE_UNAVAILABLE


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
