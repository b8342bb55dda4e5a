"""A stand-in for lgpio in tests: its import-time side effects and no chip.

Real lgpio (0.2.2.0: lguGetWorkDir, lgNotifyOpenWithSize, and the Python
module's callback thread), on import, makes a notification FIFO ``.lgd-nfy0``
in ``$LG_WD`` (else the working directory), changes the process's working
directory there, and opens the FIFO; where the directory is not writable the
import fails. Put this directory first on sys.path to import it as ``lgpio``.
"""
import os

# the constants gpiozero.pins.lgpio reads as it is imported
SET_PULL_NONE, SET_PULL_UP, SET_PULL_DOWN = 0, 1, 2
SET_BIAS_DISABLE, SET_BIAS_PULL_UP, SET_BIAS_PULL_DOWN = 4, 8, 16
RISING_EDGE, FALLING_EDGE, BOTH_EDGES = 1, 2, 3


class error(Exception):
    """lgpio's error type."""


_work_dir = os.environ.get("LG_WD") or os.getcwd()
os.chdir(_work_dir)
try:
    if os.path.lexists(".lgd-nfy0"):
        os.unlink(".lgd-nfy0")
    os.mkfifo(".lgd-nfy0")
except OSError:
    pass  # as lgpio's C side: the open below reports it
# FileNotFoundError: '.lgd-nfy0' where the directory is not writable (lgpio's Python side opens it so)
_notify_fd = os.open(".lgd-nfy0", os.O_RDWR | os.O_NONBLOCK)


def gpiochip_open(chip: int) -> int:
    raise error("no GPIO chip here (tests/support_lgpio stands in for lgpio)")
