"""Demo data for the run command: a small city's worth of members, providers, catalog,
reference data, and one login per role. Idempotent: running it again changes nothing."""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from claims.models import CatalogItem
from core.idnumber import make_id_number
from core.roles import Role
from members.models import Enrollment, FamilyLink, Member, ReferenceValue
from pharmacies.models import Provider, ProviderStaff

DEMO_PASSWORD = "gongji-demo-2026"

DEMO_USERS = [
    ("caseworker", Role.CASE_WORKER, "经办员 张敏"),
    ("caseworker2", Role.CASE_WORKER, "经办员 李强"),
    ("auditor", Role.AUDITOR, "稽核员 王芳"),
    ("auditor2", Role.AUDITOR, "稽核员 赵磊"),
    ("auditor3", Role.AUDITOR, "稽核科长 孙伟"),
    ("finance", Role.FINANCE, "财务 陈静"),
    ("finance2", Role.FINANCE, "财务 刘洋"),
    ("sysadmin", Role.ADMINISTRATOR, "系统管理员 周涛"),
    ("provider", Role.PROVIDER, "市立医院 信息科"),
    ("pharmacy", Role.PROVIDER, "老百姓大药房 收银台"),
]

# The provider each demo provider login works for (default: the city hospital).
DEMO_PROVIDER_OF = {"pharmacy": "P37040200001"}

# The demo agency users' authenticators (core.otp), fixed so that people trying the demo can add
# them to a phone app from the README (base32 there) or print the current code with
# `manage.py demo_otp_code <username>`. Demo only: real staff enrol their own on first login.
DEMO_OTP_KEYS = {
    "caseworker": "e5309fc1b9f7d44724271cd271ff39e1e1f542e8",
    "caseworker2": "66641defa9116a5681b9fafaf77c30c04a103d6c",
    "auditor": "fe010e99f9402e6ac906083a2d368e2e43f4a3fb",
    "auditor2": "4dd8acc509150cc5d02fdd017c5c9943f59a42dd",
    "auditor3": "9c1f4e2a7b3d5c8e0f6a1b2c3d4e5f60718293a4",
    "finance": "b167946a91f66a5f9d9c81d0a9e7c763feaa1000",
    "finance2": "b65ac51405b098f819a1ecc998bb8fac253e9102",
    "sysadmin": "df0e480d7d3e0f926bd89e2a379a139107c487b2",
}
DEMO_OTP_DEVICE_NAME = "demo authenticator"

PROVIDERS = [
    ("H37040200001", "枣庄市立医院", "institution", "level_3", ""),
    ("H37040200002", "市中区人民医院", "institution", "level_2", ""),
    ("H37040200003", "光明路街道社区卫生服务中心", "institution", "level_1", ""),
    ("H37040200004", "齐村镇卫生院", "institution", "level_1", ""),
    ("H37040200005", "枣庄市立医院互联网医院", "institution", "internet_hospital", "H37040200001"),
    ("P37040200001", "老百姓大药房(文化路店)", "pharmacy", "", ""),
    ("P37040200002", "漱玉平民大药房(青檀路店)", "pharmacy", "", ""),
]

CATALOG = [
    # code, name, kind, class, prepay %, payment standard, list price
    ("A-DRUG", "阿莫西林胶囊", "drug", "A", None, None, "10.00"),
    ("B-DRUG", "阿托伐他汀钙片", "drug", "B", "10", None, "50.00"),
    ("C-DRUG", "复合维生素片", "drug", "C", None, None, "30.00"),
    ("A-SVC", "普通门诊诊查费", "service", "A", None, "20.00", None),
    ("XHG-01", "血常规检查", "service", "A", None, "25.00", "25.00"),
    ("NTG-01", "一次性输液器", "consumable", "B", "20", "8.00", "8.00"),
]

REFERENCE = [
    ("average_pension", 2021, "", "2900.00"),
    ("average_pension", 2021, "enterprise", "2800.00"),
    ("average_pension", 2021, "government", "4500.00"),
    ("average_pension", 2022, "", "2900.00"),
    ("average_pension", 2023, "", "3000.00"),
    ("average_wage", 2021, "", "90000.00"),
]

MEMBER_NAMES = ["王建国", "李秀英", "张伟", "刘芳", "陈明", "杨丽", "赵军", "黄敏", "周勇", "吴静",
                "徐磊", "孙娜", "马超", "朱琳", "胡斌", "郭燕", "何平", "高洁", "林涛", "罗红"]


def _members():
    """Twenty members: in service and retired, combined and pooled-only, one family."""
    rows = []
    for index, name in enumerate(MEMBER_NAMES):
        retired = index % 4 == 3
        born = date(1952 + index, 1 + index % 12, 1 + index % 27) if retired else date(1975 + index, 1 + index % 12, 3)
        rows.append(
            {
                "id_number": make_id_number("370402", born, 100 + index),
                "name": name,
                "employment_status": "retired" if retired else "in_service",
                "scheme": "pooled_only" if index % 7 == 6 else "combined",
                "category": "flexible_employment" if index % 9 == 8 else "employee",
                "civil_servant": index % 10 == 4,
                "contribution_base": None if retired else Decimal(5000 + 250 * index),
                "monthly_pension": Decimal(2800 + 50 * index) if retired else None,
                "retired_on": date(born.year + 60, born.month, 1) if retired else None,
            }
        )
    return rows


@transaction.atomic
def load_base_data() -> list[tuple[str, str, str]]:
    for code, name, kind, level, parent in PROVIDERS:
        Provider.objects.get_or_create(
            code=code,
            defaults={
                "name": name, "kind": kind, "level": level, "district": "市中区",
                "parent": Provider.objects.get(code=parent) if parent else None,
            },
        )
    for code, name, kind, item_class, prepay, standard, price in CATALOG:
        CatalogItem.objects.get_or_create(
            code=code,
            defaults={
                "name": name, "kind": kind, "item_class": item_class,
                "prepay_percent": Decimal(prepay) if prepay else None,
                "payment_standard": Decimal(standard) if standard else None,
                "list_price": Decimal(price) if price else None,
            },
        )
    for kind, year, sector, value in REFERENCE:
        ReferenceValue.objects.get_or_create(kind=kind, year=year, sector=sector, defaults={"value": Decimal(value)})
    for row in _members():
        member, created = Member.objects.get_or_create(id_number=row["id_number"], defaults={"name": row["name"]})
        if created:
            Enrollment.objects.create(
                member=member, effective_from=date(2020, 1, 1),
                employment_status=row["employment_status"], scheme=row["scheme"], category=row["category"],
                civil_servant=row["civil_servant"], contribution_base=row["contribution_base"],
                monthly_pension=row["monthly_pension"], retired_on=row["retired_on"],
                employer_name="" if row["employment_status"] == "retired" else "枣庄矿业集团",
            )
    first, second = Member.objects.order_by("pk")[:2]
    if not FamilyLink.objects.filter(member=first, relative=second).exists():
        FamilyLink.objects.create(member=first, relative=second, relation="spouse")
        FamilyLink.objects.create(member=second, relative=first, relation="spouse")

    logins = []
    User = get_user_model()
    for username, role, full_name in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": full_name, "is_staff": role != Role.PROVIDER}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.add(Group.objects.get(name=role.value))
        if username in DEMO_OTP_KEYS and not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            TOTPDevice.objects.create(user=user, name=DEMO_OTP_DEVICE_NAME, key=DEMO_OTP_KEYS[username], confirmed=True)
        if role == Role.PROVIDER:
            ProviderStaff.objects.get_or_create(
                user=user, defaults={"provider": Provider.objects.get(code=DEMO_PROVIDER_OF.get(username, PROVIDERS[0][0]))})
        logins.append((username, DEMO_PASSWORD, role.value))
    return logins


def demo_api_token(username: str | None = None) -> tuple[str, str | None, str]:
    """A demo provider user's API token (default: the city hospital's): (username, the key when
    it was issued just now, else None, its prefix). The key is stored only as a digest
    (core.tokens), so it is printed once, by the run that issues it; a later run shows the
    prefix and where to issue a new one (the portal's API token page lists prefix and expiry)."""
    from core.tokens import api_token_issue_by_command, usable_tokens

    username = username or next(name for name, role, _full_name in DEMO_USERS if role == Role.PROVIDER)
    user = get_user_model().objects.get(username=username)
    working = usable_tokens(user).first()
    if working is not None:
        return username, None, working.prefix
    token, key = api_token_issue_by_command(user=user, command="setup_demo")
    return username, key, token.prefix


def demo_api_tokens() -> list[tuple[str, str | None, str]]:
    """Every demo provider login's token: the city hospital's and the pharmacy's."""
    return [demo_api_token(name) for name, role, _full_name in DEMO_USERS if role == Role.PROVIDER]


def demo_otp_code(username: str, *, at: float | None = None) -> str:
    """The code a demo user's demo authenticator shows now; refuses anyone else (CommandError
    in the command), and a demo user who enrolled an authenticator of their own."""
    import time

    from django_otp.oath import TOTP

    if username not in DEMO_OTP_KEYS:
        raise ValueError(f"{username!r} is not a demo agency user ({', '.join(DEMO_OTP_KEYS)})")
    device = TOTPDevice.objects.filter(
        user__username=username, name=DEMO_OTP_DEVICE_NAME, key=DEMO_OTP_KEYS[username], confirmed=True
    ).first()
    if device is None:
        raise ValueError(f"{username!r} has no demo authenticator (run setup_demo, or it enrolled its own)")
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() if at is None else at
    return f"{totp.token():0{device.digits}d}"


def load_demo(today: date | None = None) -> dict:
    """Everything the run command shows: base data and logins, the region's policies, three
    months of account credits and a few settlements. Idempotent."""
    from django.utils import timezone

    today = today or timezone.localdate()
    logins = load_base_data()
    return {
        "logins": logins,
        "api_tokens": (tokens := demo_api_tokens()),
        "api_token": tokens[0],
        "policies": load_region_presets(),
        "credits": credit_recent_months(today),
        "settlements": settle_demo_visits(today),
        "chronic": load_chronic_demo(today),
        # The last three months' work: settlements, rule batches, flags, statements, withdrawals.
        "operations": load_operations(today),
    }


def load_operations(today: date) -> dict:
    from demo.operations import load_operations as load

    return load(today)


def load_chronic_demo(today: date) -> list[str]:
    """Chronic and special diseases with clearly labelled example values (claims.chronic_demo)."""
    from claims.chronic_demo import load_chronic_demo as load

    return load(today)


def region() -> str:
    return settings.REGION


def load_region_presets() -> list[str]:
    """The deployment region's shipped policy files (settlement and account credits)."""
    import json

    from claims.policy_services import policy_load
    from members.services import credit_policy_load

    loaded = []
    for loader, folder in ((policy_load, "claims"), (credit_policy_load, "members")):
        path = settings.BASE_DIR / folder / "policies" / f"{settings.REGION}.json"
        loader(data=json.loads(path.read_text(encoding="utf-8")))
        loaded.append(str(path.relative_to(settings.BASE_DIR)))
    return loaded


def credit_recent_months(today: date, months: int = 3) -> list[str]:
    """Credit the last few months, so the demo accounts have a history (idempotent)."""
    from members.services import credit_month

    done = []
    year, month = today.year, today.month
    for _ in range(months):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        run = credit_month(month=date(year, month, 1))
        done.append(f"{year}-{month:02d}: {run.status}")
    return list(reversed(done))


def settle_demo_visits(today: date) -> list[str]:
    """A few settlements by the demo provider, so case workers can see a breakdown.

    Settled through the same service as the API; the provider's references make it idempotent.
    A region whose policy still lacks a parameter (Jinan's deductible, Yangzhou's ratio table)
    refuses, exactly as it would for a real provider, and the refusal is reported.
    """
    from claims.services import ItemRequest, SettlementRequest, claim_settle
    from core.errors import DomainError

    user = get_user_model().objects.get(username="provider")
    members = list(Member.objects.filter(enrollments__scheme="combined").order_by("pk")[:3])
    visits = [
        ((ItemRequest("A-DRUG", Decimal("100")),), True),
        ((ItemRequest("B-DRUG", Decimal("2")), ItemRequest("A-SVC", Decimal("1"), Decimal("25.00"))), True),
        ((ItemRequest("A-DRUG", Decimal("12")), ItemRequest("C-DRUG", Decimal("1"))), False),
    ]
    outcome = []
    for number, (member, (items, use_account)) in enumerate(zip(members, visits, strict=False), start=1):
        request = SettlementRequest(
            member_id_number=member.id_number, visit_date=date(today.year, today.month, 1),
            items=items, external_ref=f"DEMO-{today:%Y%m}-{number:04d}", use_account=use_account,
        )
        try:
            response, _created = claim_settle(user=user, request=request)
            outcome.append(f"{request.external_ref}: fund {response['fund']}, account {response['account']}, cash {response['cash']}")
        except DomainError as error:
            outcome.append(f"{request.external_ref}: refused ({error.code}: {error.message})")
    return outcome
