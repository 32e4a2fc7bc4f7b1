"""The diagnosis vocabulary carries exactly the codes of REFERENCE.md A.5."""

import pytest

from anagen.assessment import coding


@pytest.mark.parametrize(
    ("key", "icd10", "snomed", "icd11"),
    [
        ("aga_male", "L64.9", "87872006", None),
        ("aga_female", "L64.9", "1108009", None),
        ("aa_patchy", "L63.9", "68225006", "ED70.2"),
        ("aa_totalis", "L63.0", "19754005", "ED70.2"),
        ("aa_universalis", "L63.1", "201145007", "ED70.2"),
        ("aa_ophiasis", "L63.2", None, "ED70.2"),
        ("te_acute", "L65.0", "201147004", None),
        ("te_chronic", "L65.0", "201147004", None),
        ("other", None, None, None),
    ],
)
def test_codes(key, icd10, snomed, icd11):
    d = coding.diagnosis(key)
    assert (d.icd10, d.snomed, d.icd11) == (icd10, snomed, icd11)


def test_missing_codes_are_explained():
    for d in coding.DIAGNOSES.values():
        if d.snomed is None or d.icd11 is None or d.icd10 is None:
            assert d.notes, d.key


def test_codings_use_canonical_systems_and_skip_missing():
    systems = [c.system for c in coding.diagnosis("aa_totalis").codings()]
    assert systems == [
        "http://hl7.org/fhir/sid/icd-10",
        "http://id.who.int/icd/release/11/mms",
        "http://snomed.info/sct",
    ]
    assert [c.system for c in coding.diagnosis("aa_ophiasis").codings()] == [
        coding.ICD10_SYSTEM,
        coding.ICD11_SYSTEM,
    ]
    assert coding.diagnosis("other").codings() == []


def test_unknown_key():
    with pytest.raises(KeyError, match="unknown diagnosis"):
        coding.diagnosis("baldness")
