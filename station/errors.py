"""The base of every error a user can cause (bad config, bad trace, bad option).

The CLI prints such an error as one line and exits 2; anything else is a bug
and keeps its traceback.
"""


class UserError(Exception):
    """An error in what the user gave us, with a message that says what to fix."""
