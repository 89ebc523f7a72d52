"""The demo's chronic and special diseases (manage.py setup_demo): the region's chronic preset
with EXAMPLE money values, clearly labelled as such (the policy texts set none), one example
special disease, one registration (proposed by one case worker, approved by the other) and one
chronic settlement by the demo provider. Idempotent."""

import copy
import json
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model

EXAMPLE_TERMS = {
    "chronic": {"tally": "disease", "deductible": "200.00", "ratio_percent": 70, "retired_bonus": 5, "annual_limit": "3000.00"},
    "special": {"tally": "disease", "deductible": "0.00", "ratio_percent": 85, "retired_bonus": 5, "annual_limit": "50000.00"},
    "two_diseases": {"tally": "group", "deductible": "0.00", "ratio_percent": 60, "retired_bonus": 0, "annual_limit": "600.00"},
}
DEMO_DISEASE = {"code": "DEMO-S01", "name": "恶性肿瘤门诊治疗（演示示例病种）", "group": "special"}


def example_policy(region: str) -> dict:
    path = settings.BASE_DIR / "claims" / "policies" / "chronic_special" / f"{region}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["diseases"] = [*data.get("diseases", []), DEMO_DISEASE]
    for version in data["versions"]:
        version["title"] = ("【演示示例值，非政策规定】" + version.get("title", ""))[:200]
        version["parameters"]["groups"] = copy.deepcopy(EXAMPLE_TERMS)
    return data


def load_chronic_demo(today: date) -> list[str]:
    from claims import chronic
    from claims.models import ChronicRegistration, Disease, PolicyVersion
    from claims.policy_services import policy_load
    from claims.services import ItemRequest, SettlementRequest, claim_settle
    from core.errors import DomainError
    from members.models import Member
    from pharmacies.access import staff_link

    User = get_user_model()
    outcome = []
    if not PolicyVersion.objects.filter(region=settings.REGION, kind=PolicyVersion.Kind.CHRONIC_SPECIAL).exists():
        policy_load(data=example_policy(settings.REGION))
        outcome.append("chronic_special: example values loaded (演示示例值)")
    disease = Disease.objects.filter(region=settings.REGION, code=DEMO_DISEASE["code"]).first()
    member = Member.objects.filter(enrollments__scheme="combined").order_by("pk")[1:2].first()
    proposer, approver = User.objects.filter(username="caseworker").first(), User.objects.filter(username="caseworker2").first()
    provider_user = User.objects.filter(username="provider").first()
    if disease is None or member is None or proposer is None or approver is None or provider_user is None:
        return outcome
    registration = ChronicRegistration.objects.filter(member=member, disease=disease).first()
    if registration is None:
        try:
            registration = chronic.registration_propose(
                user=proposer, member=member, disease=disease, valid_from=date(today.year, 1, 1),
                designated_provider=getattr(staff_link(provider_user), "provider", None),
            )
            chronic.registration_approve(user=approver, registration=registration)
        except DomainError as error:
            outcome.append(f"chronic registration: refused ({error.code})")
            return outcome
    request = SettlementRequest(
        member_id_number=member.id_number, visit_date=date(today.year, today.month, 1),
        items=(ItemRequest("A-DRUG", Decimal("20")),), external_ref=f"DEMO-CHRONIC-{today:%Y%m}",
        benefit="chronic_special", disease_code=disease.code,
    )
    try:
        response, _created = claim_settle(user=provider_user, request=request)
        outcome.append(f"{request.external_ref}: fund {response['fund']}, cash {response['cash']}")
    except DomainError as error:
        outcome.append(f"{request.external_ref}: refused ({error.code}: {error.message})")
    return outcome
