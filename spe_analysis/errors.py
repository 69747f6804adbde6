"""The one error type for bad user input.

Library code raises :class:`SpeError` with a single line that says what is wrong and what is
accepted; the command line turns it into that line on stderr and exit status 2.
"""
import numbers


class SpeError(ValueError):
    """Bad input from the user: a name, number, path or directory we cannot accept."""


def choose(kind: str, value: str, accepted) -> str:
    """Return ``value`` if it is one of ``accepted``, else raise a one-line SpeError."""
    accepted = list(accepted)
    if value not in accepted:
        raise SpeError(f"unknown {kind} {value!r}; accepted: {', '.join(map(str, accepted))}")
    return value


def finite(name: str, value) -> float:
    """``value`` as a finite float, else a one-line SpeError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpeError(f"{name} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise SpeError(f"{name} must be a finite number, got {value!r}")
    return number


def positive_int(name: str, value) -> int:
    """``value`` if it is an integer >= 1, else a one-line SpeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SpeError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive(name: str, value) -> float:
    """``value`` if it is a finite number above 0 (an SD, a difference to detect, a margin)."""
    number = finite(name, value)
    if number <= 0:
        raise SpeError(f"{name} must be a positive number of accuracy points, got {value!r}")
    return number


def fraction(name: str, value) -> float:
    """``value`` if it lies strictly between 0 and 1 (a significance level, a power)."""
    number = finite(name, value)
    if not 0 < number < 1:
        raise SpeError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return number
