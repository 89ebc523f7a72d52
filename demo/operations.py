"""The demo's working months: what the staff find on their day (issue 16, "The demo shows all of it").

Everything goes through the services the staff and providers use (settlements through the
API's service, the national rule batches through the import, the flags through each review
step, statements through close/approve/pay, withdrawals through propose/approve). Idempotent:
settlements carry the provider's references, and each later stage runs only once (guarded by
what it leaves behind)."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model

from core.errors import DomainError


def _user(username):
    return get_user_model().objects.get(username=username)


def _month_starts(today: date, months: int = 3) -> list[date]:
    starts, year, month = [], today.year, today.month
    for _ in range(months):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        starts.append(date(year, month, 1))
    return list(reversed(starts))


@contextmanager
def _as_of(day: date):
    """Settle a visit on its own day, as the provider did then: statements and reconciliation
    count settlements by their settlement time, so the demo's months need settlement times in
    those months. Demo only (the clock of the running process is set back for the call)."""
    from unittest import mock

    from django.utils import timezone

    moment = timezone.make_aware(datetime.combine(day, time(10, 30)))
    with mock.patch.object(timezone, "now", return_value=moment):
        yield


def settle_recent_months(today: date) -> dict:
    """Pooling visits at the city hospital and account-only sales at a pharmacy in each of the
    last three months; in the last month, visits that charge an included item with its main item
    (national batch 7) and a test above its daily limit (batch 8-1), for the monitoring run."""
    from claims.account_settlement import account_only_settle
    from claims.services import ItemRequest, SettlementRequest, claim_settle
    from members.models import Member

    hospital, pharmacy = _user("provider"), _user("pharmacy")
    members = list(Member.objects.filter(enrollments__scheme="combined").order_by("pk").distinct()[:12])
    done = {"pooling": 0, "account_only": 0, "refused": []}

    def settle(user, settle_fn, request, key):
        try:
            with _as_of(request.visit_date):
                settle_fn(user=user, request=request)
            done[key] += 1
        except DomainError as error:
            done["refused"].append(f"{request.external_ref}: {error.code}")

    months = _month_starts(today)
    for month_index, start in enumerate(months):
        last = month_index == len(months) - 1
        for number, member in enumerate(members[:8], start=1):
            day = start + timedelta(days=(3 * number + month_index) % 25)
            items = (ItemRequest("A-SVC", Decimal("1"), Decimal("20.00")), ItemRequest("B-DRUG", Decimal(1 + number % 3)))
            if last and number <= 6:
                # 血常规 with the consultation on the same visit; the sixth twice in one day.
                items = (ItemRequest("A-SVC", Decimal("1"), Decimal("20.00")),
                         ItemRequest("XHG-01", Decimal("2" if number == 6 else "1"), Decimal("25.00")))
            settle(hospital, claim_settle, SettlementRequest(
                member_id_number=member.id_number, visit_date=day, items=items,
                external_ref=f"DEMO-H-{start:%Y%m}-{number:02d}", use_account=number % 2 == 0,
            ), "pooling")
        for number, member in enumerate(members[8:12], start=1):
            settle(pharmacy, account_only_settle, SettlementRequest(
                member_id_number=member.id_number, visit_date=start + timedelta(days=5 + number),
                items=(ItemRequest("A-DRUG", Decimal(2 + number)),), external_ref=f"DEMO-P-{start:%Y%m}-{number:02d}",
            ), "account_only")
    return done


def _batch_workbooks(folder: Path) -> list[Path]:
    """The national rule library's batches 1, 7 and 8-1, in their published layouts, with the
    demo catalog's codes (example content)."""
    import openpyxl

    def book(name, sheets):
        workbook = openpyxl.Workbook()
        workbook.remove(workbook.active)
        for title, rows in sheets.items():
            sheet = workbook.create_sheet(title)
            for row in rows:
                sheet.append(list(row))
        path = folder / name
        workbook.save(path)
        return path

    return [
        book("第一批_限定性别.xlsx", {
            "Sheet1": [("药品通用名", "药品说明", "限定类型", "限定对象"), ("示例妇科用药", "示例妇科用药说明", "限定性别对象", "女")],
            "Sheet2": [("药品通用名", "序号", "药品代码", "限定类型"), ("示例妇科用药", 1, "DEMO-GYN-01", "限定性别对象")],
        }),
        book("第七批_重复收费.xlsx", {"“医疗服务项目重复收费”规则对应知识点明细": [
            ("序号", "频度", "主项名称", "主项编码", "从项名称", "从项编码", "备注"),
            (1, "单次就诊", "普通门诊诊查费", "A-SVC", "血常规检查", "XHG-01", ""),
        ]}),
        book("第八批_限定频次.xlsx", {"“医疗服务项目限定频次”规则对应知识点明细": [
            ("序号", "项目名称", "限制数量", "数量单位", "项目编码"),
            (1, "血常规检查", 1, "日", "XHG-01"),
            ("合计", None, None, None, None),
        ]}),
    ]


def load_rule_batches() -> list[str]:
    from supervision.models import RulebaseImport
    from supervision.services import rulebase_import

    if RulebaseImport.objects.exists():
        return [f"{row.batch}: kept" for row in RulebaseImport.objects.order_by("pk")]
    loaded = []
    with tempfile.TemporaryDirectory() as folder:
        for path in _batch_workbooks(Path(folder)):
            result = rulebase_import(source=str(path), file_name=path.name)
            loaded.append(f"{result.batch}: {path.name}")
    return loaded


def review_flags(today: date) -> dict:
    """One monitoring run over the last three months, then the flags taken to each stage:
    new, first review, confirmed, deducted, appealed, appeal decided."""
    from supervision.models import Flag, MonitoringRun
    from supervision.monitoring import monitoring_run
    from supervision.services import flag_appeal, flag_confirm, flag_decide_appeal, flag_deduct, flag_first_review

    months = _month_starts(today)
    date_from, date_to = months[0], today.replace(day=1) - timedelta(days=1)
    if not MonitoringRun.objects.filter(date_from=date_from, date_to=date_to).exists():
        monitoring_run(date_from=date_from, date_to=date_to)
        auditor, auditor2, auditor3 = _user("auditor"), _user("auditor2"), _user("auditor3")
        flags = list(Flag.objects.filter(status=Flag.Status.NEW, provider__code="H37040200001").order_by("pk"))
        # flags[0] stays new.
        stages = {
            1: "first_reviewed", 2: "confirmed", 3: "deducted", 4: "appealed", 5: "appeal_decided",
        }
        for index, stage in stages.items():
            if index >= len(flags):
                break
            flag = flag_first_review(flag=flags[index], user=auditor,
                                     opinion="结算明细显示同一次就诊重复收取血常规检查费，建议复审确认。")
            if stage == "first_reviewed":
                continue
            # Confirmed weeks ago for the deducted one (its appeal window has closed).
            confirmed_on = today - timedelta(days=40) if stage == "deducted" else today
            flag = flag_confirm(flag=flag, user=auditor2, amount=flag.amount_at_stake, today=confirmed_on,
                                note="经核对处方与收费明细，违规属实，按规则建议金额扣款。")
            if stage == "deducted":
                flag_deduct(flag=flag, user=auditor2, today=today)
                continue
            if stage == "confirmed":
                continue
            flag = flag_appeal(flag=flag, user=_user("provider"), today=today,
                               reason="该患者当日两次采血系病情复查所需，附检验报告两份。")
            if stage == "appeal_decided":
                flag_decide_appeal(flag=flag, user=auditor3, upheld=False,
                                   note="检验报告时间相同，不属于复查，申诉不予支持，维持原扣款金额。")
    counts = {}
    for status in Flag.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


# The demo's agreements and payment terms (支付方式, Zaozhuang 第十六条): example values, the
# agency's to set. The city hospital against a budget with a quality deposit; the health
# centre by capitation for its registered members; the district hospital per disease.
BUDGET_HOSPITAL, CAPITATION_CENTRE, PER_DISEASE_HOSPITAL = "H37040200001", "H37040200003", "H37040200002"


def _terms(year: int) -> dict:
    from claims.chronic_demo import DEMO_DISEASE

    return {
        BUDGET_HOSPITAL: {"budget": True, "budget_amount": "3600.00", "deposit_percent": "5",
                          "overrun_provider_percent": "50", "underrun_retained_percent": "40",
                          "deposit_return_percent": {"A": "100", "B": "80", "C": "50"}},
        CAPITATION_CENTRE: {"capitation": True, "capitation_rate": "30.00"},
        PER_DISEASE_HOSPITAL: {"per_disease": True, "disease_standards": {DEMO_DISEASE["code"]: "800.00"}},
    }


def set_payment_terms(today: date) -> list[str]:
    """An agreement in force (last year and this) for three institutions, their payment terms for
    both years, and four members registered with the health centre (基层首诊) for capitation.
    Through the services (activation, terms, registration), each once."""
    from members.models import Member, PrimaryCareRegistration
    from members.services import primary_care_register
    from pharmacies.models import Agreement, PaymentTerms, Provider
    from pharmacies.services import agreement_activate, payment_terms_set

    caseworker = _user("caseworker")
    first_year = today.year - 1
    for code in _terms(today.year):
        provider = Provider.objects.get(code=code)
        agreement = Agreement.objects.filter(provider=provider).order_by("pk").first()
        if agreement is None:
            # Signed before the system (no application on file), brought into force here.
            agreement = Agreement.objects.create(
                provider=provider, period_from=date(first_year, 1, 1), period_to=date(today.year, 12, 31),
                payment_method=Agreement.PaymentMethod.PER_ITEM, outpatient_pooling=True, signed_by=caseworker,
            )
            agreement_activate(agreement=agreement, actor=caseworker, today=today)
        for year in (first_year, today.year):
            if not PaymentTerms.objects.filter(agreement=agreement, year=year).exists():
                payment_terms_set(agreement=agreement, year=year, values=_terms(year)[code], actor=caseworker)
    centre = Provider.objects.get(code=CAPITATION_CENTRE)
    if not PrimaryCareRegistration.objects.filter(provider=centre).exists():
        for member in Member.objects.order_by("-pk")[2:6]:
            primary_care_register(member=member, provider=centre, valid_from=date(today.year, 1, 1), user=caseworker)
    return [f"{terms.agreement.provider.code} {terms.year}: "
            + ", ".join(name for name in ("budget", "capitation", "per_disease") if getattr(terms, name))
            for terms in PaymentTerms.objects.select_related("agreement__provider").order_by("agreement__provider__code", "year")]


def settle_last_year(today: date) -> dict:
    """Last year at the city hospital (three pooling visits a month), its twelve statements
    closed by the monthly task and approved by finance, the year's credit scores computed, and
    its year-end settlement (年度清算) prepared by the yearly task: a draft for finance to approve
    (finance) and pay (finance2)."""
    from claims.models import ProviderStatement, YearEndSettlement
    from claims.services import ItemRequest, SettlementRequest, claim_settle
    from claims.statements.services import statement_approve, statement_close_month
    from claims.statements.year_end import year_end_prepare
    from members.models import Member
    from pharmacies.models import Provider
    from supervision.models import ProviderCreditScore
    from supervision.services import provider_credit_compute

    year = today.year - 1
    hospital = Provider.objects.get(code=BUDGET_HOSPITAL)
    refused = []
    if not YearEndSettlement.objects.filter(provider=hospital, year=year).exists():
        members = list(Member.objects.filter(enrollments__scheme="combined").order_by("-pk").distinct()[:3])
        for month in range(1, 13):
            for number, member in enumerate(members, start=1):
                request = SettlementRequest(
                    member_id_number=member.id_number, visit_date=date(year, month, 4 + 7 * number),
                    items=(ItemRequest("A-DRUG", Decimal(20 + 10 * number)),), external_ref=f"DEMO-Y-{year}{month:02d}-{number:02d}",
                )
                try:
                    with _as_of(request.visit_date):
                        claim_settle(user=_user("provider"), request=request)
                except DomainError as error:
                    refused.append(f"{request.external_ref}: {error.code}")
            first = date(year, month, 1)
            if not ProviderStatement.objects.filter(month=first).exists():
                statement_close_month(month=first)
            for statement in ProviderStatement.objects.filter(month=first, provider=hospital, status="draft"):
                statement_approve(statement_id=statement.pk, user=_user("finance"))
        if not ProviderCreditScore.objects.filter(year=year).exists():
            provider_credit_compute(year=year, user=_user("auditor"))
        year_end_prepare(provider=hospital, year=year)
    settlement = YearEndSettlement.objects.get(provider=hospital, year=year)
    return {"year_end": f"{hospital.code} {year}: {settlement.status}, payable {settlement.payable}", "refused": refused}


def close_last_month(today: date) -> list[str]:
    """Last month's statements: generated by the monthly task (no user), one approved, one paid
    (approved by one finance officer, paid by the other: 会计 and 出纳 differ)."""
    from claims.models import ProviderStatement
    from claims.statements.services import statement_approve, statement_close_month, statement_record_payment

    month = _month_starts(today)[-1]
    if not ProviderStatement.objects.filter(month=month).exists():
        statement_close_month(month=month)
        drafts = {statement.provider.code: statement for statement in
                  ProviderStatement.objects.filter(month=month, provider__isnull=False).select_related("provider")}
        # The city hospital's paid, the pharmacy's approved; any other (the health centre's
        # capitation) left a draft for finance.
        if BUDGET_HOSPITAL in drafts:
            paid = statement_approve(statement_id=drafts[BUDGET_HOSPITAL].pk, user=_user("finance"))
            statement_record_payment(statement_id=paid.pk, payment_reference=f"DEMO-BANK-{month:%Y%m}-01",
                                     user=_user("finance2"))
        if "P37040200001" in drafts:
            statement_approve(statement_id=drafts["P37040200001"].pk, user=_user("finance"))
    return [f"{s.provider.code if s.provider else s.clearing}: {s.status}"
            for s in ProviderStatement.objects.filter(month=month).select_related("provider").order_by("pk")]


def propose_withdrawals() -> list[str]:
    """Two withdrawals proposed by one case worker, one approved by the other."""
    from members.models import AccountDecision, Member, PersonalAccount
    from members.services.withdrawals import account_withdrawal_approve, account_withdrawal_propose

    if not AccountDecision.objects.exists():
        members = list(Member.objects.filter(account__isnull=False).order_by("-pk")[:2])
        caseworker = _user("caseworker")
        decisions = []
        for member, (reason, destination) in zip(members, [
            (AccountDecision.Reason.TRANSFER_TO_ANOTHER_REGION, "济南市"), (AccountDecision.Reason.SETTLING_ABROAD, ""),
        ], strict=False):
            decisions.append(account_withdrawal_propose(
                account=PersonalAccount.objects.get(member=member), reason=reason, destination=destination,
                note="参保人持相关证明来窗口申请。", user=caseworker,
            ))
        if decisions:
            account_withdrawal_approve(decision=decisions[0], user=_user("caseworker2"))
    return [f"{d.account.member.name}: {d.status}" for d in AccountDecision.objects.select_related("account__member").order_by("pk")]


def register_chronic(today: date) -> dict:
    """Two more approved chronic registrations and one waiting for the second case worker."""
    from django.conf import settings

    from claims import chronic
    from claims.chronic_demo import DEMO_DISEASE
    from claims.models import ChronicRegistration, Disease
    from members.models import Member

    disease = Disease.objects.filter(region=settings.REGION, code=DEMO_DISEASE["code"]).first()
    if disease is not None:
        members = list(Member.objects.filter(enrollments__scheme="combined").order_by("pk").distinct()[2:5])
        for index, member in enumerate(members):
            if ChronicRegistration.objects.filter(member=member, disease=disease).exists():
                continue
            try:
                registration = chronic.registration_propose(
                    user=_user("caseworker"), member=member, disease=disease, valid_from=date(today.year, 1, 1),
                )
                if index < 2:
                    chronic.registration_approve(user=_user("caseworker2"), registration=registration)
            except DomainError:
                continue
    counts = {}
    for status in ChronicRegistration.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def load_operations(today: date) -> dict:
    return {
        "months": settle_recent_months(today),
        "rule_batches": load_rule_batches(),
        "flags": review_flags(today),
        # Before last month's statements: they pay as the terms say.
        "payment_terms": set_payment_terms(today),
        "last_year": settle_last_year(today),
        "statements": close_last_month(today),
        "withdrawals": propose_withdrawals(),
        "chronic_registrations": register_chronic(today),
    }
