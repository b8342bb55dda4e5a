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


#: Largest text file (config, norms) a user may name: they are a few kilobytes.
MAX_TEXT_BYTES = 4 * 1024 * 1024


def open_user_file(path, error: type[UserError], what: str = "file", max_bytes: int | None = None):
    """Open a regular file a user named for reading (binary); any problem is one ``error`` naming
    the path: missing, a directory, a FIFO or device (which would block or never end), a symlink
    loop, no permission, or larger than ``max_bytes``."""
    import os
    import stat

    p = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file ignores it
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{p}: is a directory, not a {what}") from None
    except PermissionError:
        raise error(f"{p}: cannot read the {what} (permission denied)") from None
    except OSError as e:
        raise error(f"{p}: cannot open the {what} ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{p}: is a directory, not a {what}")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{p}: is not a regular file (a pipe or a device?), not a {what}")
        if max_bytes is not None and st.st_size > max_bytes:
            raise error(f"{p}: {st.st_size / 1e6:.0f} MB is too large for a {what} (at most "
                        f"{max_bytes / 1e6:.0f} MB)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_user_text(path, error: type[UserError], what: str = "file") -> str:
    """Read a UTF-8 file a user named; any failure is one ``error`` naming the path."""
    with open_user_file(path, error, what, MAX_TEXT_BYTES) as f:
        try:
            return f.read(MAX_TEXT_BYTES + 1).decode("utf-8")
        except UnicodeDecodeError:
            raise error(f"{path}: cannot read the {what} (it is not UTF-8 text)") from None
        except OSError as e:
            raise error(f"{path}: cannot read the {what} ({e.strerror or e})") from None
