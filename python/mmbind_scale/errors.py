"""The one error type the console command prints as a single line."""


class ScaleError(Exception):
    """A failure a user can act on: bad input, another model, an unreachable path or cluster."""
