"""``station daemon``: the service that owns the hardware and the records and serves the socket API.

One module per part: ``service`` wires them together (systemd, signals, the
tick); ``intake`` takes raw records in; ``between_trials`` and ``preroll`` keep
the board between trials; ``trial_control`` arms, ends and saves trials;
``running_test`` keeps the test being given; ``handlers`` answer the API over
``server``, in the shapes of ``state_messages``.
"""
