"""The one error type for bad user input.

Library code raises :class:`SpeError` with a single line that says what is wrong and what is
accepted; the command line turns it into that line on stderr and exit status 2.
"""


class SpeError(ValueError):
    """Bad input from the user: a name, number, path or directory we cannot accept."""


def choose(kind: str, value: str, accepted) -> str:
    """Return ``value`` if it is one of ``accepted``, else raise a one-line SpeError."""
    accepted = list(accepted)
    if value not in accepted:
        raise SpeError(f"unknown {kind} {value!r}; accepted: {', '.join(map(str, accepted))}")
    return value
