"""A stage is read with the scale it was recorded on, for every sex: a man whose scalp exam
confirmed a female-type pattern and recorded Ludwig II is planned for Ludwig II, not
Norwood II; a Sinclair-only exam is planned for, not refused; a woman with male-pattern
loss on Norwood III is not read as Ludwig III."""

from __future__ import annotations

import pytest
from django.utils import timezone

from anagen.assessment import services
from anagen.assessment.models import Diagnosis
from anagen.assessment.services import AssessmentError

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate().isoformat()


# clinician, man and woman: tests/assessment/conftest.py


def flags(found, key):
    return " | ".join(next(p for p in found if p.key == key).flags)


def test_ludwig_ii_on_a_man_with_a_confirmed_female_pattern_is_planned_as_ludwig_ii(man, clinician):
    services.record_history(man, clinician, {})
    services.record_exam(man, clinician, {"ludwig": "II", "female_pattern_confirmed": True})
    dx = services.record_diagnosis(man, clinician, {"condition": "aga_female"})
    assert dx.stage == "II"
    found, missing = services.proposals(man)
    assert not missing
    # Read as Norwood II it was flagged "outside the III–IV range studied".
    assert "Norwood" not in flags(found, "exosome")
    assert "transplant" not in [p.key for p in found]
    plan = services.accept_plan(man, clinician, {"proposal_key": "exosome"})
    assert not any("Norwood" in f for f in plan.flags)


def test_ludwig_iii_on_such_a_man_is_advanced_on_the_ludwig_scale(man, clinician):
    services.record_history(man, clinician, {})
    services.record_exam(man, clinician, {"ludwig": "III", "female_pattern_confirmed": True})
    services.record_diagnosis(man, clinician, {"condition": "aga_female"})
    found, _ = services.proposals(man)
    assert "Ludwig III is outside the I–II range" in flags(found, "exosome")
    assert "transplant" in [p.key for p in found]


def test_a_sinclair_only_exam_on_such_a_man_is_planned_not_refused(man, clinician):
    services.record_history(man, clinician, {})
    services.record_exam(man, clinician, {"sinclair": 3, "female_pattern_confirmed": True})
    dx = services.record_diagnosis(man, clinician, {"condition": "aga_female"})
    assert dx.stage == "3"
    found, missing = services.proposals(man)
    assert not missing and "exosome" in [p.key for p in found]
    assert services.accept_plan(man, clinician, {"proposal_key": "exosome"}).pk


def test_the_female_scale_of_an_exam_is_preferred_for_a_female_pattern(man, clinician):
    services.record_exam(
        man, clinician,
        {"norwood_hamilton": "IIIv", "ludwig": "I", "female_pattern_confirmed": True},
    )  # fmt: skip
    assert services.record_diagnosis(man, clinician, {"condition": "aga_female"}).stage == "I"


def test_norwood_iii_in_a_woman_with_male_pattern_loss_is_not_ludwig_iii(woman, clinician):
    services.record_history(woman, clinician, {"pregnant": False, "lactating": False})
    services.record_exam(woman, clinician, {"norwood_hamilton": "III"})
    dx = services.record_diagnosis(woman, clinician, {"condition": "aga_male"})
    assert dx.stage == "III"
    found, _ = services.proposals(woman)
    assert "transplant" not in [p.key for p in found]  # Ludwig III would be advanced
    assert "Ludwig" not in flags(found, "exosome")


def test_a_female_scale_exam_under_a_male_pattern_diagnosis_is_a_stage_error(woman, clinician):
    services.record_exam(woman, clinician, {"ludwig": "II"})
    with pytest.raises(AssessmentError) as err:
        services.record_diagnosis(woman, clinician, {"condition": "aga_male"})
    (message,) = err.value.errors["stage"]
    assert message.startswith("The scalp exam records Ludwig II, but 'II' is read as a Norwood")
    assert not Diagnosis.objects.exists()
    # The clinician may still give the stage, on the scale of the diagnosis.
    dx = services.record_diagnosis(woman, clinician, {"condition": "aga_male", "stage": "IIIv"})
    assert dx.stage == "IIIv"


def test_the_consultation_page_stages_such_a_man_on_ludwig(client, man, clinician):
    client.force_login(clinician)
    base = f"/consultation/{man.pk}/"
    r = client.post(base + "history/", {"recorded_on": TODAY, "malignancy": "none"})
    assert r.status_code == 302
    r = client.post(
        base + "exam/",
        {"examined_on": TODAY, "ludwig": "II", "female_pattern_confirmed": "on"},
    )
    assert r.status_code == 302
    page = client.get(base).content.decode()
    # The exam confirmed the pattern, so the diagnosis form suggests the female pattern.
    assert '<option value="aga_female" selected>' in page
    r = client.post(base + "diagnosis/", {"diagnosed_on": TODAY, "condition": "aga_female"})
    assert r.status_code == 302
    page = client.get(base).content.decode()
    exosome = page.split('id="proposal-exosome"')[1].split("</article>")[0]
    assert "Norwood II" not in exosome
    r = client.post(base + "plans/", {"proposal_key": "exosome"})
    assert r.status_code == 302
    assert man.treatment_plans.get().proposal_key == "exosome"
