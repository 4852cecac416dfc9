"""The vectorised decimal parser gives bit for bit what ``strtod`` gives, or declines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from citymodel.converters import _decimal_text
from citymodel.converters._decimal_text import parse_plain_decimals
from citymodel.converters._gml_batch import _parse_numbers


def _strtod(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reference: Python's correctly rounded ``float`` per number, counts per text."""
    values = [float(token) for text in texts for token in text.split()]
    counts = [len(text.split()) for text in texts]
    return np.array(values, dtype=np.float64), np.array(counts, dtype=np.int64)


def _assert_exact(texts: list[str]) -> None:
    parsed = parse_plain_decimals(texts)
    assert parsed is not None, texts
    values, counts = parsed
    want_values, want_counts = _strtod(texts)
    assert counts.tolist() == want_counts.tolist()
    # bit patterns: also tells -0.0 from 0.0
    assert values.view(np.int64).tolist() == want_values.view(np.int64).tolist(), texts


_digits = st.text(alphabet="0123456789", min_size=0, max_size=19)


@st.composite
def _decimal(draw: st.DrawFn) -> str:
    whole = draw(_digits)
    fraction = draw(_digits)
    point = draw(st.booleans())
    if not whole and not fraction:
        whole = "0"
    if not point:
        fraction = ""
        whole = whole or "0"
    sign = draw(st.sampled_from(["", "", "-"]))
    return sign + whole + ("." + fraction if point else "")


_space = st.sampled_from([" ", "  ", "\n", "\t", "\r\n", " \n\t "])


@st.composite
def _text(draw: st.DrawFn) -> str:
    numbers = draw(st.lists(_decimal(), max_size=12))
    gaps = draw(st.lists(_space, min_size=len(numbers) + 1, max_size=len(numbers) + 1))
    lead = gaps[0] if draw(st.booleans()) else ""
    return lead + "".join(n + g for n, g in zip(numbers, gaps[1:], strict=True))


@given(st.lists(_text(), max_size=12))
def test_plain_decimals_equal_strtod(texts: list[str]) -> None:
    _assert_exact(texts)


@given(
    st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=12),
)
def test_coordinates_round_trip_exactly(values: list[float], decimals: int) -> None:
    text = " ".join(f"{v:.{decimals}f}" for v in values)
    _assert_exact([text, text])


@pytest.mark.parametrize(
    "texts",
    [
        ["356023.296 5645032.070 49.742"],
        ["-0", "-0.0", "0.", ".5", "-.5", "5."],
        ["00000001.00000001"],  # leading and trailing zeros
        ["90071992.54740992", "90071992.54740993"],  # around 2^53 in the 8 + 8 window
        ["123456789.5 1.123456789 12345678901234567890"],  # beyond the windows: float()
        # long fractions (two windows), up to 2^53 and beyond
        ["3910123.123456789 12.1234567890123 0.1234567890123456 1.0000000000000001"],
        ["-391016.6429999992 5817234.99999999999 7.12345678901234567"],
        ["0.1 0.2 0.3"],  # not exactly representable: rounded like strtod
        ["", "   ", "\n"],  # no numbers
        [],
    ],
)
def test_edge_cases(texts: list[str]) -> None:
    _assert_exact(texts)


@pytest.mark.parametrize(
    "text",
    ["1e5", "+1", "nan", "inf", "1 2 x", "1.2.3", "1-2", "-", ".", "--1", "1\x0b2", "1\x0c2", "ä1"],
)
def test_declines_what_is_not_a_plain_decimal(text: str) -> None:
    assert parse_plain_decimals(["1 2 3", text]) is None


@given(st.lists(st.text(alphabet="0123456789.-+eE nax\t", max_size=30), max_size=6))
def test_batch_parse_matches_text_by_text_strtod(texts: list[str]) -> None:
    """Whatever the text, the batch parse agrees with numpy's per-text parse (-1: not numbers)."""
    values, counts = _parse_numbers(texts)
    offset = 0
    for text, count in zip(texts, counts.tolist(), strict=True):
        if count < 0:
            continue
        want = np.fromstring(text, sep=" ") if text.strip() else np.zeros(0)
        assert count == want.size
        got = values[offset : offset + count]
        assert got.view(np.int64).tolist() == want.view(np.int64).tolist()
        offset += count
    assert offset == values.size


@pytest.mark.parametrize("group_chars", [1, 7, 40, 1 << 18])
def test_groups_of_texts_give_the_same_result(
    group_chars: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts are converted in groups of about ``_GROUP_CHARS`` characters; any grouping agrees."""
    rng = np.random.default_rng(7)
    texts = [
        " ".join(f"{v:.{int(rng.integers(0, 12))}f}" for v in rng.uniform(-1e7, 1e7, size=size))
        for size in rng.integers(0, 30, size=200)
    ]
    texts.insert(50, " ".join(["123.25"] * 50_000))  # one text longer than a group
    monkeypatch.setattr(_decimal_text, "_GROUP_CHARS", group_chars)
    _assert_exact(texts)
