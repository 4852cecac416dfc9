"""Exact, vectorised parsing of plain decimal numbers such as GML ``posList`` text.

:func:`parse_plain_decimals` converts the numbers of many texts at once with a handful of numpy
operations instead of one C library ``strtod`` call per number (``np.fromstring``), which costs
about 1,000 instructions per number. It gives bit for bit the values ``strtod`` gives:

* Only plain decimals are handled: an optional leading ``-``, digits, at most one ``.``
  (``12``, ``-0.5``, ``.5``, ``5.``), separated by XML whitespace (space, tab, CR, LF). Anything
  else in any text (exponents, ``+``, ``nan``, letters, other control characters, non-ASCII)
  returns None, and the caller parses the texts its general way.
* A number with up to 8 digits before and up to 8 after the point is read as the integer
  ``M = digits × 10^(8 - fraction digits)`` and divided by ``10^8``. When ``M <= 2^53`` both
  operands are exact doubles and IEEE division rounds the exact quotient to nearest, which is
  the correctly rounded value of the decimal, the one ``strtod`` returns (Clinger's fast path).
  Other numbers (longer ones, ``M > 2^53``) are converted one by one by Python's ``float``,
  which is correctly rounded as well.
* The digits are read eight at a time as little-endian 64-bit words (the SWAR method of
  fast_float/simdjson): the window of eight characters before the point and the one after it
  are taken as ``uint64``, the characters outside the number are replaced by ``'0'``, and
  three multiply-shift steps turn the eight ASCII digits into their value.
"""

from __future__ import annotations

import itertools
from typing import Final

import numpy as np

from citymodel._typing import BoolArray, Float64Array, IndexArray

__all__ = ["parse_plain_decimals"]

_PAD: Final = 8
"""Spaces before the joined text (17 after it): every window stays inside the buffer."""
_GROUP_CHARS: Final = 1 << 18
"""Characters converted together (fewer numpy calls against smaller temporary arrays)."""

_U3: Final = np.uint64(3)
_U8: Final = np.uint64(8)
_U16: Final = np.uint64(16)
_U32: Final = np.uint64(32)
_U64: Final = np.uint64(64)
_TEN: Final = np.uint64(10)
_ASCII_ZEROS: Final = np.uint64(0x3030303030303030)
_PAIRS: Final = np.uint64(0x000000FF000000FF)
_MUL_HIGH: Final = np.uint64(100 + (1_000_000 << 32))
_MUL_LOW: Final = np.uint64(1 + (10_000 << 32))
_LOW_32: Final = np.uint64(0xFFFFFFFF)
_SCALE_INT: Final = np.uint64(100_000_000)
_SCALE: Final = 1e8
_MAX_EXACT: Final = np.uint64(2**53)
_MAX_DIGITS: Final = 16
"""Numbers with more digits may not fit 64 bits (and never are exact doubles but for zeros)."""
_WINDOW: Final = 8
_POW10_INT: Final = np.array([10**k for k in range(2 * _WINDOW + 1)], dtype=np.uint64)
_POW10: Final = np.array([10.0**k for k in range(2 * _WINDOW + 1)])


def _eight_digits(words: np.ndarray) -> np.ndarray:
    """The values of eight ASCII digits per little-endian word (first digit in the low byte).

    ``words`` (uint64) is overwritten.
    """
    words -= _ASCII_ZEROS
    pairs = words * _TEN
    pairs += words >> _U8  # two-digit values in bytes 0, 2, 4, 6
    high = pairs & _PAIRS
    high *= _MUL_HIGH
    pairs >>= _U16
    pairs &= _PAIRS
    pairs *= _MUL_LOW
    pairs += high
    pairs >>= _U32
    pairs &= _LOW_32
    return pairs


def _has_bad_control(chars: np.ndarray) -> bool:
    """Whether a character below 0x20 other than tab, LF or CR occurs."""
    if not np.count_nonzero(chars < 32):
        return False
    bad = (chars < 9) | (chars == 11) | (chars == 12) | ((chars > 13) & (chars < 32))
    return bool(bad.any())


def parse_plain_decimals(texts: list[str]) -> tuple[Float64Array, IndexArray] | None:
    """All numbers of ``texts`` in one float64 array, and how many each text holds.

    Returns None when any text holds something else than plain decimals separated by
    whitespace (see the module documentation); the values are then for ``strtod`` to read.
    The texts are converted in groups of about :data:`_GROUP_CHARS` characters, which bounds
    the temporary arrays (about 30 bytes per character).
    """
    n = len(texts)
    if not n:
        return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    ends = np.cumsum(lengths)
    marks = np.arange(_GROUP_CHARS, int(ends[-1]), _GROUP_CHARS)
    cuts = sorted({0, n, *np.searchsorted(ends, marks, side="right").tolist()})
    values: list[Float64Array] = []
    counts: list[IndexArray] = []
    for a, b in itertools.pairwise(cuts):
        group = _parse_group(texts[a:b], lengths[a:b])
        if group is None:
            return None
        values.append(group[0])
        counts.append(group[1])
    if len(values) == 1:
        return values[0], counts[0]
    return np.concatenate(values), np.concatenate(counts)


def _parse_group(texts: list[str], lengths: IndexArray) -> tuple[Float64Array, IndexArray] | None:
    """:func:`parse_plain_decimals` of some texts; ``lengths``: their lengths."""
    try:
        # the joined text between _PAD spaces before and 2 * _WINDOW + 1 after
        buffer = " ".join([" " * (_PAD - 1), *texts, " " * (2 * _WINDOW)]).encode("ascii")
    except UnicodeEncodeError:
        return None
    chars = np.frombuffer(buffer, dtype=np.uint8)
    if _has_bad_control(chars):
        return None
    space = chars <= 32
    other = (chars - 48) > 9  # uint8 arithmetic wraps: True for every non-digit
    other &= ~space
    n_other = int(np.count_nonzero(other))
    del other
    n_minus = int(np.count_nonzero(chars == 45))
    dots = np.flatnonzero(chars == 46)
    edges = np.flatnonzero(space[1:] != space[:-1])
    del space
    edges += 1
    starts = edges[0::2].copy()  # the padding makes starts and ends alternate
    ends = edges[1::2].copy()
    del edges
    negative = chars[starts] == 45
    n_negative = int(np.count_nonzero(negative))
    if n_other != dots.size + n_negative or n_minus != n_negative:
        return None  # letters, '+', a '-' that does not lead its number
    points = _points(starts, ends, dots)
    if points is None:
        return None
    whole = points - starts
    whole -= negative
    fraction = ends - points
    fraction -= 1
    np.maximum(fraction, 0, out=fraction)  # no point: points == ends
    if starts.size and (whole + fraction).min() < 1:
        return None  # a lone '-' or '.'
    values, inexact = _values(buffer, points, whole, fraction)
    if n_negative:
        np.negative(values, out=values, where=negative)
    if inexact.any():
        where = np.flatnonzero(inexact)
        numbers = b" ".join(
            [buffer[b:e] for b, e in zip(starts[where].tolist(), ends[where].tolist(), strict=True)]
        )
        values[where] = np.fromstring(numbers.decode("ascii"), dtype=np.float64, sep=" ")
    bounds = np.empty(lengths.size + 1, dtype=np.int64)
    bounds[0] = _PAD
    np.cumsum(lengths + 1, out=bounds[1:])
    bounds[1:] += _PAD
    counts: IndexArray = np.diff(np.searchsorted(starts, bounds))
    return values, counts


def _points(starts: IndexArray, ends: IndexArray, dots: IndexArray) -> IndexArray | None:
    """Position of each number's point (its end when it has none); None: two points in one."""
    if dots.size == starts.size and bool((dots > starts).all()) and bool((dots < ends).all()):
        return dots  # the usual case: exactly one point in every number
    points = ends.copy()
    if dots.size:
        owner = np.searchsorted(starts, dots, side="right") - 1
        if dots.size > 1 and not bool((np.diff(owner) > 0).all()):
            return None
        points[owner] = dots
    return points


def _values(
    buffer: bytes, points: IndexArray, whole: IndexArray, fraction: IndexArray
) -> tuple[Float64Array, BoolArray]:
    """Values of the numbers (sign left out), and where the digit windows are not exact.

    ``whole`` and ``fraction`` count the digits before and after each point: up to 8 before
    and 16 after are read, in one window before the point and one or two after it.
    """
    words = np.ndarray(shape=(len(buffer) - _WINDOW + 1,), dtype="<u8", buffer=buffer, strides=(1,))
    whole_value = _eight_digits(_before(words[points - _WINDOW], whole))
    first = np.minimum(fraction, _WINDOW)
    fraction_value = _eight_digits(_after(words[points + 1], first))
    if not fraction.size or int(fraction.max()) <= _WINDOW:
        # M = the digits × 10^(8 - fraction digits): value = M / 10^8, exact while M <= 2^53
        scaled = whole_value * _SCALE_INT
        scaled += fraction_value
        values: Float64Array = scaled.astype(np.float64)
        values /= _SCALE
        inexact: BoolArray = (whole > _WINDOW) | (scaled > _MAX_EXACT)
        return values, inexact
    # longer fractions: M = the digits as an integer, value = M / 10^fraction
    read = np.minimum(fraction, 2 * _WINDOW)
    fraction_value *= _SCALE_INT
    fraction_value += _eight_digits(_after(words[points + 1 + _WINDOW], read - first))
    fraction_value //= _POW10_INT[2 * _WINDOW - read]  # drop the padding zeros: exact
    digits = whole_value * _POW10_INT[read]
    digits += fraction_value
    values = digits.astype(np.float64)
    values /= _POW10[read]
    inexact = (
        (whole > _WINDOW)
        | (fraction > 2 * _WINDOW)
        | (whole + fraction > _MAX_DIGITS)  # may overflow 64 bits: left to strtod
        | (digits > _MAX_EXACT)
    )
    return values, inexact


def _before(words: np.ndarray, digits: IndexArray) -> np.ndarray:
    """The windows ending at each point: its top ``digits`` bytes kept, '0' below (in place)."""
    bits = np.minimum(digits, _WINDOW).astype(np.uint64) << _U3
    shift = _U64 - bits
    words >>= shift
    words <<= shift
    words |= _ASCII_ZEROS >> bits
    return words


def _after(words: np.ndarray, digits: IndexArray) -> np.ndarray:
    """The windows after each point: its low ``digits`` bytes kept, '0' above (in place)."""
    bits = digits.astype(np.uint64) << _U3
    shift = _U64 - bits
    words <<= shift
    words >>= shift
    words |= _ASCII_ZEROS << bits
    return words
