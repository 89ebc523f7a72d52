from datetime import date

import pytest
from django.core.exceptions import ValidationError

from core.idnumber import check_character, make_id_number, mask_id_number, parse_id_number

# A published GB 11643 example: 11010519491231002X (female, born 1949-12-31).
KNOWN_VALID = "11010519491231002X"


def test_check_character_follows_gb11643_weights():
    assert check_character(KNOWN_VALID[:17]) == "X"


def test_parse_returns_birth_date_and_sex():
    facts = parse_id_number(KNOWN_VALID)
    assert facts.birth_date == date(1949, 12, 31)
    assert facts.sex == "F"
    assert parse_id_number(make_id_number("370402", date(1990, 1, 1), 123)).sex == "M"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1101051949123100", "id_length"),
        ("11010519491231002Y", "id_format"),
        ("110105194902300021", "id_birth_date"),
        ("110105194912310021", "id_checksum"),
    ],
)
def test_invalid_numbers_are_refused_with_the_reason(value, code):
    with pytest.raises(ValidationError) as error:
        parse_id_number(value)
    assert error.value.code == code


def test_birth_date_in_the_future_is_refused():
    future = make_id_number("370402", date(2031, 1, 1), 1)
    with pytest.raises(ValidationError) as error:
        parse_id_number(future, today=date(2026, 11, 23))
    assert error.value.code == "id_birth_date"


def test_mask_keeps_region_prefix_and_last_four():
    assert mask_id_number("370402199001011234") == "370402********1234"
