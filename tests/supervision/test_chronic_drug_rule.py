"""Monitoring rule chronic_drug_unregistered (issue 14: a chronic registration is a useful
signal): a drug the region's chronic policy lists in a disease's scope — antihypertensives and
antidiabetics for 两病 (Ziyang 第九条) — bought by a member without a registration covering the
day. SQL and the pure predicate agree (helpers.check)."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from claims.models import ChronicRegistration, Disease
from claims.policy_services import policy_load
from tests.supervision.helpers import check, claim, institution, member, pharmacy

pytestmark = pytest.mark.django_db

MARCH = (date(2024, 3, 1), date(2024, 3, 31))
PRESET = Path(__file__).resolve().parents[2] / "claims" / "policies" / "chronic_special" / "ziyang.json"


def test_two_diseases_drug_without_a_registration_is_flagged(settings):
    settings.REGION = "ziyang"
    data = json.loads(PRESET.read_text(encoding="utf-8"))
    data["versions"][0]["parameters"]["diseases"] = {"M03900": {"scope": ["AMLODIPINE"]}, "M01600": {"scope": ["METFORMIN"]}}
    policy_load(data=data)
    hypertension = Disease.objects.get(region="ziyang", code="M03900")
    registered, expired, unregistered = member(), member(), member()
    ChronicRegistration.objects.create(member=registered, disease=hypertension, valid_from=date(2024, 1, 1), status="approved")
    ChronicRegistration.objects.create(member=expired, disease=hypertension, valid_from=date(2023, 1, 1),
                                       valid_to=date(2024, 3, 9), status="approved")
    ChronicRegistration.objects.create(member=unregistered, disease=hypertension, valid_from=date(2024, 1, 1),
                                       status="revoked", revoke_reason="不实")
    shop = pharmacy()
    claim(registered, date(2024, 3, 10), [("AMLODIPINE", 30, "1.20")], provider=shop)  # covered
    claim(registered, date(2024, 3, 11), [("AMLODIPINE", 10, "1.20"), ("METFORMIN", 20, "0.50")], provider=shop)
    late = claim(expired, date(2024, 3, 10), [("AMLODIPINE", 30, "1.20")], provider=institution())
    claim(expired, date(2024, 3, 9), [("AMLODIPINE", 30, "1.20")], provider=institution())  # its last day
    revoked = claim(unregistered, date(2024, 3, 12), [("ASPIRIN", 1, "5.00"), ("AMLODIPINE", 30, "1.20")], provider=shop)
    found = check("chronic_drug_unregistered", *MARCH)
    metformin = [f for f in found if f.member_id == registered.pk]
    assert [(f.item_key, f.amount) for f in found] == sorted([
        (f"line:{metformin[0].lines[0]}", Decimal("10.00")),  # registered for hypertension, not diabetes
        (f"line:{late.lines.get().pk}", Decimal("36.00")),
        (f"line:{revoked.lines.get(position=1).pk}", Decimal("36.00")),
    ])
    assert metformin[0].details["diseases"] == ["M01600"]


def test_no_scope_in_the_policy_flags_nothing(settings):
    settings.REGION = "ziyang"
    policy_load(data=json.loads(PRESET.read_text(encoding="utf-8")))
    claim(member(), date(2024, 3, 10), [("AMLODIPINE", 30, "1.20")], provider=pharmacy())
    assert check("chronic_drug_unregistered", *MARCH) == []
