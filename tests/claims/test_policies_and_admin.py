"""Policy versions: load_policy, the used-version guard, the admin; provider users; the
claims admin's reverse action."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from claims.models import Claim, PolicyVersion
from claims.services import policy_version_on
from core.models import ApiToken
from core.tokens import key_digest
from members.models import PersonalAccount
from pharmacies.models import ProviderStaff
from tests.factories import ProviderFactory, UserFactory

from .conftest import PRESETS, make_member, preset


def test_load_policy_is_idempotent(db, tmp_path):
    out = StringIO()
    call_command("load_policy", str(PRESETS / "jinan.json"), stdout=out)
    first = list(PolicyVersion.objects.values_list("pk", "effective_from", "parameters"))
    call_command("load_policy", str(PRESETS / "jinan.json"), stdout=out)
    assert list(PolicyVersion.objects.values_list("pk", "effective_from", "parameters")) == first
    assert len(first) == 2
    assert "unchanged 2" in out.getvalue().splitlines()[-1]


def test_every_region_preset_loads(db):
    for region in ("zaozhuang", "ziyang", "henan", "yangzhou", "jinan"):
        call_command("load_policy", str(PRESETS / f"{region}.json"), stdout=StringIO())
    assert PolicyVersion.objects.count() == 6


def test_version_in_force_is_chosen_by_visit_date(db, settings):
    """Jinan (二)(三): 2023 and 2024+ versions; Henan reading: from 2022-07-01."""
    call_command("load_policy", str(PRESETS / "jinan.json"), stdout=StringIO())
    from datetime import date

    assert policy_version_on(date(2023, 12, 31), "jinan").parameters["annual_cap"] == "4500.00"
    assert policy_version_on(date(2024, 1, 1), "jinan").parameters["annual_cap"] == "6000.00"
    assert policy_version_on(date(2028, 1, 1), "jinan") is None


def test_load_policy_refuses_a_malformed_file_and_writes_nothing(db, tmp_path):
    data = preset("zaozhuang")
    data["versions"][0]["parameters"]["ratio"]["base"]["level_1"] = "seventy"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=StringIO(), stderr=err)
    assert "ratio.base.level_1" in err.getvalue()
    assert PolicyVersion.objects.count() == 0


def test_load_policy_dispatches_account_credit_files_to_members(db, tmp_path, monkeypatch):
    import members.services

    seen = {}
    monkeypatch.setattr(members.services, "credit_policy_load", lambda *, data, user=None: seen.setdefault("data", data) and {"created": 1}, raising=False)
    path = tmp_path / "credit.json"
    path.write_text(json.dumps({"kind": "account_credit", "region": "zaozhuang"}), encoding="utf-8")
    call_command("load_policy", str(path), stdout=StringIO())
    assert seen["data"]["kind"] == "account_credit"


def test_unknown_kind_is_refused(db, tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"kind": "inpatient"}), encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=StringIO())


def _settle_one(region, provider_client):
    region("zaozhuang")
    member = make_member(balance="500.00")
    client = provider_client(ProviderFactory(kind="institution", level="level_1"))
    response = client.post(
        "/api/v1/settlements",
        {"member_id_number": member.id_number, "visit_date": "2023-02-01", "external_ref": "X-1", "use_account": True,
         "items": [{"code": "A-DRUG", "quantity": "30"}]},
        format="json",
    )
    assert response.status_code == 201
    return member, response.json()


def test_a_version_used_to_settle_can_never_be_edited(region, catalog, provider_client):
    _settle_one(region, provider_client)
    version = PolicyVersion.objects.get()
    version.parameters["annual_cap"] = "9999.00"
    with pytest.raises(ValidationError):
        version.save()
    with pytest.raises(ValidationError):
        version.delete()
    assert PolicyVersion.objects.get().parameters["annual_cap"] == "1500.00"


def test_loading_a_changed_file_over_a_used_version_is_refused(region, catalog, provider_client, tmp_path):
    _settle_one(region, provider_client)
    data = preset("zaozhuang")
    data["versions"][0]["parameters"]["annual_cap"] = "2000.00"
    path = tmp_path / "z.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("load_policy", str(path), stdout=StringIO(), stderr=StringIO())
    assert PolicyVersion.objects.get().parameters["annual_cap"] == "1500.00"


def test_a_new_version_replaces_an_open_ended_one_from_its_date(region, catalog, provider_client, tmp_path):
    _settle_one(region, provider_client)
    data = preset("zaozhuang")
    data["versions"].append({**data["versions"][0], "effective_from": "2025-01-01"})
    data["versions"][1] = json.loads(json.dumps(data["versions"][1]))
    data["versions"][1]["parameters"]["annual_cap"] = "1800.00"
    path = tmp_path / "z.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    call_command("load_policy", str(path), stdout=StringIO())
    from datetime import date

    assert policy_version_on(date(2024, 12, 31)).parameters["annual_cap"] == "1500.00"
    assert policy_version_on(date(2025, 1, 1)).parameters["annual_cap"] == "1800.00"


# --- admin -----------------------------------------------------------------------------


@pytest.fixture
def caseworker_client(client, db):
    user = UserFactory(roles=["经办"])
    client.force_login(user)
    return client


def test_admin_validates_a_new_version_before_saving(caseworker_client):
    parameters = preset("ziyang")["versions"][0]["parameters"]
    parameters["deductible"]["mode"] = "weekly"
    response = caseworker_client.post("/admin/claims/policyversion/add/", {
        "region": "ziyang", "kind": "outpatient_pooling", "effective_from": "2025-01-01",
        "title": "x", "source": "", "parameters": json.dumps(parameters),
    })
    assert response.status_code == 200  # the form again, with the error
    assert "deductible.mode" in response.content.decode()
    assert PolicyVersion.objects.count() == 0
    parameters["deductible"]["mode"] = "annual"
    response = caseworker_client.post("/admin/claims/policyversion/add/", {
        "region": "ziyang", "kind": "outpatient_pooling", "effective_from": "2025-01-01",
        "title": "x", "source": "", "parameters": json.dumps(parameters),
    })
    assert response.status_code == 302
    assert PolicyVersion.objects.get().created_by is not None


def test_admin_shows_a_used_version_read_only(region, catalog, provider_client, caseworker_client):
    _settle_one(region, provider_client)
    version = PolicyVersion.objects.get()
    page = caseworker_client.get(f"/admin/claims/policyversion/{version.pk}/change/").content.decode()
    assert 'name="parameters"' not in page


def test_admin_reverse_action_with_a_reason(region, catalog, provider_client, caseworker_client):
    member, settled = _settle_one(region, provider_client)
    url = "/admin/claims/claim/"
    ask = caseworker_client.post(url, {"action": "reverse_selected", "_selected_action": [settled["settlement_id"]]})
    assert ask.status_code == 200 and 'name="reason"' in ask.content.decode()
    done = caseworker_client.post(url, {"action": "reverse_selected", "_selected_action": [settled["settlement_id"]], "apply": "1", "reason": "重复收费"})
    assert done.status_code == 302
    claim = Claim.objects.get()
    assert (claim.status, claim.reversal_reason) == ("reversed", "重复收费")
    assert PersonalAccount.objects.get(member=member).balance == Decimal("500.00")
    assert caseworker_client.get(f"{url}{claim.pk}/change/").status_code == 200


# --- provider users ----------------------------------------------------------------------


def test_create_provider_user_prints_the_token_last_and_is_safe_to_repeat(db):
    provider = ProviderFactory(kind="institution", level="level_2")
    out = StringIO()
    call_command("create_provider_user", provider.code, "his-api", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    link = ProviderStaff.objects.get(user__username="his-api")
    stored = ApiToken.objects.get(user=link.user)
    assert link.provider == provider and stored.digest == key_digest(token) and stored.prefix == token[:8]
    assert not ApiToken.objects.filter(digest=token).exists() and token not in str(list(ApiToken.objects.values()))
    # Again: the same user, no second token (the key is not stored, so it is not printed again).
    again = StringIO()
    call_command("create_provider_user", provider.code, "his-api", stdout=again)
    assert token not in again.getvalue() and f"{token[:8]}…" in again.getvalue()
    assert ApiToken.objects.filter(user=link.user).count() == 1
    # --new-token issues another; the first keeps working.
    third = StringIO()
    call_command("create_provider_user", provider.code, "his-api", "--new-token", stdout=third)
    second = third.getvalue().strip().splitlines()[-1]
    assert second != token and ApiToken.objects.filter(user=link.user, revoked_at__isnull=True).count() == 2


def test_create_provider_user_gives_the_tokens_expiry_as_the_beijing_date_at_half_past_midnight(db):
    """At 00:30 Beijing a token issued now expires at 16:30 UTC of the day before its Beijing
    expiry date: the command prints the Beijing date, as the portal and the admin show it."""
    from datetime import datetime

    import time_machine

    from tests.conftest import BEIJING

    provider = ProviderFactory(kind="institution", level="level_2")
    with time_machine.travel(datetime(2026, 12, 4, 0, 30, tzinfo=BEIJING), tick=False):
        call_command("create_provider_user", provider.code, "his-api", stdout=StringIO())
        again = StringIO()
        call_command("create_provider_user", provider.code, "his-api", stdout=again)
    expires_at = ApiToken.objects.get(user__username="his-api").expires_at
    assert expires_at.astimezone(BEIJING).time().isoformat() == "00:30:00"
    assert f"(expires {expires_at.astimezone(BEIJING):%Y-%m-%d})" in again.getvalue()
    assert f"(expires {expires_at:%Y-%m-%d})" not in again.getvalue()  # the UTC date, a day earlier


def test_create_cross_region_user(db):
    out = StringIO()
    call_command("create_provider_user", "--cross-region", "platform", stdout=out)
    link = ProviderStaff.objects.get(user__username="platform")
    assert link.cross_region_platform and link.provider is None
    assert ApiToken.objects.get(user=link.user).digest == key_digest(out.getvalue().strip().splitlines()[-1])


def test_create_provider_user_for_an_unknown_code_fails(db):
    with pytest.raises(CommandError):
        call_command("create_provider_user", "H99999999999", "nobody", stdout=StringIO())


def test_member_page_shows_the_years_when_members_registers_a_member_admin(db):
    from django.contrib import admin

    from claims.admin_settlement import MemberYearInline, _add_years_to_member_page
    from members.models import Member

    registered = Member in admin.site._registry
    if not registered:
        admin.site.register(Member)
    try:
        _add_years_to_member_page()
        assert MemberYearInline in admin.site._registry[Member].inlines
    finally:
        if not registered:
            admin.site.unregister(Member)
