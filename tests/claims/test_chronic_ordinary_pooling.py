"""`ordinary_pooling_too` (chronic policy, per disease, group or version): whether a member's
costs for a registered disease may ALSO be settled through ordinary outpatient pooling.

A pooling settlement is "for" the disease when it names it (`disease_code`) or buys an item in
the disease's `scope`. Zaozhuang 第十一条 and Yangzhou 二(四)1–2: both benefits at once (the
presets: true); Ziyang 第九条 (不得重复享受待遇): where the agency sets false, such a pooling
visit is refused with `chronic_costs_not_in_ordinary_pooling` and nothing is written.
The money parameters are example values."""

from datetime import date

import pytest

from claims import chronic_format
from claims.models import Claim, MemberYear

from .conftest import make_member
from .test_chronic_settlement import body, drugs, terms, world  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def pooling(member, ref, items, visit_date="2023-03-01", **extra):
    return {"member_id_number": member.id_number, "visit_date": visit_date, "external_ref": ref, "items": items, **extra}


def refused_and_nothing_written(response, member, *, disease_code):
    data = response.json()
    assert response.status_code == 400, data
    assert data["code"] == "chronic_costs_not_in_ordinary_pooling"
    assert data["details"]["disease_code"] == disease_code
    assert not Claim.objects.filter(member=member, benefit="outpatient_pooling").exists()
    assert not MemberYear.objects.filter(member=member, fund_paid__gt=0).exists()
    return data


def test_zaozhuang_article_11_an_in_scope_drug_may_also_use_ordinary_pooling(world):  # noqa: F811 (the fixture imported above)
    """Zaozhuang 第十一条: 普通门诊和门诊慢特病待遇可同时享受 — the preset's true lets a
    registered member's in-scope drug, even a visit naming the disease, settle in pooling."""
    world.setup("zaozhuang", groups={"special": terms(ratio=80)}, diseases={"S1": {"scope": ["A-DRUG"]}})
    member = make_member()
    world.register(member, "S1")
    response = world.client.post("/api/v1/settlements", pooling(member, "P-1", drugs(3), disease_code="S1"), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["total"] == "30.00"


def test_yangzhou_article_2_4_each_cost_by_its_own_standard_both_settle(world):  # noqa: F811 (the fixture imported above)
    """Yangzhou 二(四)1–2: chronic, special and ordinary costs are each settled by their own
    standard: the preset (true) lets the in-scope drug settle as chronic and as pooling."""
    world.setup("yangzhou", pooling={"ratio_in_service": {"level_1": 70, "level_2": 70, "level_3": 60}, "average_wage_2021": "100000"},
                groups={"chronic": terms(ratio=70)}, diseases={"C1": {"scope": ["A-DRUG"]}})
    member = make_member()
    world.register(member, "C1", group="chronic")
    chronic = world.client.post("/api/v1/settlements", body(member, "C1", "C-1", drugs(3)), format="json")
    ordinary = world.client.post("/api/v1/settlements", pooling(member, "P-1", drugs(3)), format="json")
    assert (chronic.status_code, ordinary.status_code) == (201, 201), (chronic.json(), ordinary.json())


def test_ziyang_article_9_with_false_an_in_scope_item_is_refused_and_nothing_written(world):  # noqa: F811 (the fixture imported above)
    """Ziyang 第九条 (不得重复享受待遇), with the agency's false for 两病: a registered member's
    antihypertensive (in the disease's scope) is refused in ordinary pooling, naming the item;
    the same drug settles under the chronic benefit; other items still use ordinary pooling."""
    world.setup(
        "ziyang",
        groups={"two_diseases": {**terms(ratio=60, tally="group"), "ordinary_pooling_too": False}},
        diseases={"M03900": {"scope": ["A-DRUG"]}},
    )
    member = make_member()
    world.register(member, "M03900", group="two_diseases")
    response = world.client.post("/api/v1/settlements", pooling(member, "P-1", drugs(1, "C-DRUG") + drugs(3)), format="json")
    data = refused_and_nothing_written(response, member, disease_code="M03900")
    assert data["details"]["items"] == [{"index": 1, "position": 2, "code": "A-DRUG"}]
    assert data["details"]["field"] == "items"
    # Preview refuses the same way.
    preview = world.client.post("/api/v1/settlements/preview", pooling(member, "P-1", drugs(3)), format="json")
    assert preview.json()["code"] == "chronic_costs_not_in_ordinary_pooling"

    # An item outside the disease's scope is ordinary pooling's.
    other = world.client.post("/api/v1/settlements", pooling(member, "P-2", drugs(1, "C-DRUG")), format="json")
    assert other.status_code == 201, other.json()
    # The in-scope drug settles under the disease's own benefit.
    chronic = world.client.post("/api/v1/settlements", body(member, "M03900", "C-1", drugs(3)), format="json")
    assert chronic.status_code == 201, chronic.json()
    assert chronic.json()["fund"] == "18.00"  # 30.00 × 60%

    # A member with no registration buys the same drug through ordinary pooling.
    unregistered = make_member()
    assert world.client.post("/api/v1/settlements", pooling(unregistered, "P-3", drugs(3)), format="json").status_code == 201


def test_with_false_a_pooling_visit_naming_the_disease_is_refused_even_without_scope(world):  # noqa: F811 (the fixture imported above)
    world.setup("ziyang", groups={"special": {**terms(ratio=60), "ordinary_pooling_too": False}})
    member = make_member()
    world.register(member, "S1")
    response = world.client.post("/api/v1/settlements", pooling(member, "P-1", drugs(3), disease_code="S1"), format="json")
    data = refused_and_nothing_written(response, member, disease_code="S1")
    assert data["details"]["field"] == "disease_code" and data["details"]["items"] == []
    # No scope and no disease named: nothing recognises the visit as the disease's.
    assert world.client.post("/api/v1/settlements", pooling(member, "P-2", drugs(3)), format="json").status_code == 201


def test_a_disease_key_wins_over_its_group_and_an_ended_registration_no_longer_counts(world):  # noqa: F811 (the fixture imported above)
    world.setup(
        "zaozhuang",
        groups={"special": {**terms(ratio=80), "ordinary_pooling_too": False}},
        diseases={"S1": {"scope": ["A-DRUG"], "ordinary_pooling_too": True}, "S2": {"scope": ["B-DRUG"]}},
        ordinary_pooling_too=True,
    )
    member = make_member()
    world.register(member, "S1")
    world.register(member, "S2", valid_to=date(2023, 2, 28))
    # S1's own true wins over its group's false.
    assert world.client.post("/api/v1/settlements", pooling(member, "P-1", drugs(3)), format="json").status_code == 201
    # S2 (the group's false) ended the day before the visit: its drug is ordinary pooling's again.
    assert world.client.post("/api/v1/settlements", pooling(member, "P-2", drugs(1, "B-DRUG")), format="json").status_code == 201
    # While S2 covered the day, the same drug was refused.
    refused = world.client.post("/api/v1/settlements", pooling(member, "P-3", drugs(1, "B-DRUG"), visit_date="2023-02-01"), format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "chronic_costs_not_in_ordinary_pooling"
    assert not Claim.objects.filter(external_ref="P-3").exists()


def test_the_format_accepts_the_key_per_group_and_disease_and_names_a_bad_value():
    parameters = {
        "groups": {"special": {**terms(), "ordinary_pooling_too": "no"}},
        "diseases": {"S1": {"ordinary_pooling_too": False}},
    }
    assert chronic_format.validate_parameters(parameters) == [("groups.special.ordinary_pooling_too", "must be true, false or null")]
    parameters["groups"]["special"]["ordinary_pooling_too"] = False
    assert chronic_format.validate_parameters(parameters) == []
