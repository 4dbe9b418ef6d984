"""Belgian identifiers as offices type them, turned into AMLCare keys or refused with a reason."""

from __future__ import annotations

import pytest
from target_amlcare.identifiers import check_kbo, check_nrn, mask_key, mask_nrn

VALID_KBO = "0123456749"
VALID_NRN = "85073003328"


@pytest.mark.parametrize(
    "typed",
    ["0123.456.749", "BE0123456749", "BE 0123.456.749", "0123 456 749", "123456749", VALID_KBO],
)
def test_kbo_numbers_as_typed_become_ten_digits(typed):
    assert check_kbo(typed).key == VALID_KBO


@pytest.mark.parametrize("typed", [None, "", "   "])
def test_a_missing_kbo_number_is_refused_as_missing(typed):
    checked = check_kbo(typed)
    assert checked.key is None
    assert checked.problem == "no KBO number"


def test_a_kbo_number_with_wrong_check_digits_is_refused_as_invalid():
    checked = check_kbo("0123456748")
    assert checked.key is None
    assert "invalid KBO number" in str(checked.problem)


@pytest.mark.parametrize("typed", ["85.07.30-033.28", "850730-033-28", "85 07 30 033 28"])
def test_national_register_numbers_as_typed_become_eleven_digits(typed):
    assert check_nrn(typed).key == VALID_NRN


def test_a_national_register_number_that_lost_its_leading_zero_is_restored():
    from stdnum.be import nn

    # Someone born in 2003: the number starts with 0, which a spreadsheet drops.
    base = "030512001"
    check = 97 - int("2" + base) % 97
    number = f"{base}{check:02d}"
    assert nn.is_valid(number)

    assert check_nrn(number[1:]).key == number


def test_a_bis_number_is_accepted_where_allowed_and_refused_elsewhere():
    from stdnum.be import bis

    base = "852701001"  # born 1985-07-01, month + 20: a BIS number
    number = f"{base}{97 - int(base) % 97:02d}"
    assert bis.is_valid(number)

    assert check_nrn(number).key == number
    assert check_nrn(number, allow_bis=False).key is None


def test_a_national_register_number_with_wrong_check_digits_is_refused():
    checked = check_nrn("85073003329")
    assert checked.key is None
    assert "invalid national register number" in str(checked.problem)


def test_masking_keeps_the_birth_date_and_hides_the_rest():
    assert mask_nrn(VALID_NRN) == "85.07.30-***.**"
    assert mask_nrn("85.07.30-033.28") == "85.07.30-***.**"
    assert VALID_NRN[6:] not in mask_key(VALID_NRN, is_person=True)
    assert mask_key(VALID_KBO, is_person=False) == VALID_KBO  # KBO numbers are public
