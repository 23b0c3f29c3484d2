import pytest

from tasks.math.numbers import canonical_number, last_number, numbers_equal, parse_number


@pytest.mark.parametrize("a,b", [
    ("1,000", "1000"), ("1000", "1000.0"), ("1000.00", "1,000"), ("$1000", "1000"), ("$ 1,000.", "1000"),
    ("-5", "-5.0"), ("0.5", "1/2"), ("+7", "7"), ("007", "7"), (" 42 ", "42"), ("2/4", "0.5"),
])
def test_equal_numbers(a: str, b: str) -> None:
    assert numbers_equal(a, b)
    assert canonical_number(a) == canonical_number(b)


@pytest.mark.parametrize("a,b", [
    ("1/3", "0.333"), ("1,5", "15"), ("10", "100"), ("-5", "5"), ("", "0"), (None, "0"),
    ("abc", "abc"), ("1,00", "100"), ("5%", "5"),
])
def test_unequal_or_unparsable(a, b) -> None:
    assert not numbers_equal(a, b)


def test_parse_number_values() -> None:
    assert parse_number("1,234,567") == 1234567
    assert parse_number("3/0") is None
    assert parse_number(".5") == parse_number("0.5")


def test_last_number() -> None:
    assert last_number("she paid $1,200 then 35.5 more") == "35.5"
    assert last_number("no digits here") is None


@pytest.mark.parametrize("text", ["inf", "-infinity", "Infinity", "nan", "1e5000", "1e10000000", "1/1e-10000000",
                                  pytest.param("9" * 5000, id="5000-digits")])
def test_odd_numbers_are_not_plain_and_never_raise(text: str) -> None:
    # Not built exactly (seconds and gigabytes for 1e10000000, an OverflowError for inf, the
    # 4300-digit str() limit for 1e5000): they leave the fast path for the checker's worker.
    assert parse_number(text) is None
    assert canonical_number(text) == text.strip()


def test_bounds_keep_ordinary_big_numbers() -> None:
    assert parse_number("1e300") == 10**300
    assert parse_number("1,000,000,000,000") == 10**12
    assert canonical_number("2.5e-3") == "1/400"


def test_spaces_are_thousands_separators_or_mixed_numbers() -> None:
    assert parse_number("1 000") == 1000 and parse_number("12 345 678") == 12345678
    assert parse_number("4 4/9") == parse_number("40/9")  # not 44/9
    assert parse_number("-2 1/2") == parse_number("-2.5")
    assert parse_number("1 2") is None and parse_number("4 10/3") is None  # not one number
