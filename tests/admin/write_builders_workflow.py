"""Write-path builders for the admin's workflow steps (proposals approved by another person,
refunds, chronic registrations, chosen institutions, second-payment batches, second-factor
resets, supervision flags and scores, the rule library, statements' read-only pages and the
year-end settlements), registered into tests/admin/test_write_paths.py's BUILDERS by `register`.

Each step is made ready by its own service (proposed by someone who is none of the world's
users, so that the approver differs from the proposer); the action or view is then submitted by
every role. Allowed roles: the state moves and its audit event is written. Other roles are not
offered the action (core/roles.py decides, through the ModelAdmin's permissions) or are refused
with 403 or the service's message, and nothing is written.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from core.models import AuditEvent
from core.roles import Role
from tests.factories import UserFactory


def _has(role):
    def allowed(user) -> bool:
        return user.is_superuser or user.groups.filter(name=role.value).exists()

    return allowed


_case_worker, _auditor, _finance = _has(Role.CASE_WORKER), _has(Role.AUDITOR), _has(Role.FINANCE)


def _audited(action, obj) -> bool:
    return AuditEvent.objects.filter(action=action, target_id=str(obj.pk)).exists()


def _member(balance="100.00"):
    from tests.claims.conftest import make_member

    return make_member(balance=balance)


def _provider(**kwargs):
    from tests.factories import ProviderFactory

    return ProviderFactory(**kwargs)


# --- members: withdrawals (another case worker approves) and late refunds -------------------


def _decision(w=None):
    from members.models import PersonalAccount
    from members.services import account_withdrawal_propose

    account = PersonalAccount.objects.get(member=_member())
    return account_withdrawal_propose(account=account, reason="transfer_to_another_region", destination="南京市",
                                      user=UserFactory(roles=[Role.CASE_WORKER]))


def _decide(wp, status, action):
    def case(w):
        def check(w, objects, response):
            assert objects[0].status == status, wp._messages(response)
            assert _audited(action, objects[0])

        return wp.ActionCase(objects=[_decision(w)], check=check, allowed=_case_worker)

    return case


def _late_refund(w=None):
    from django.db import transaction

    from members.models import LedgerEntry, PersonalAccount
    from members.services import account_lock, account_post_entry, account_withdrawal_approve
    from members.services.withdrawals import account_late_refund_record

    decision = _decision(w)
    account_withdrawal_approve(decision=decision, user=UserFactory(roles=[Role.CASE_WORKER]))
    with transaction.atomic():
        account = account_lock(account_ids=[decision.account_id])[decision.account_id]
        assert account.status == PersonalAccount.Status.CLOSED
        entry = account_post_entry(account=account, kind=LedgerEntry.Kind.SETTLEMENT_REFUND, amount=Decimal("12.30"),
                                   reference=f"WP-REFUND-{account.pk}")
        return account_late_refund_record(account=account, entry=entry, user=UserFactory(roles=[Role.CASE_WORKER]))


def _pay_late_refund(wp):
    def case(w):
        def check(w, objects, response):
            assert objects[0].status == "paid", wp._messages(response)
            assert _audited("account.late_refund_pay", objects[0])

        return wp.ActionCase(objects=[_late_refund(w)], check=check, allowed=_case_worker)

    return case


# --- claims: chronic registrations, chosen institutions, second payments, statements --------


def _registration(w=None):
    from claims import chronic
    from claims.chronic_models import Disease

    n = w.n() if w else 0
    disease = Disease.objects.create(region="zaozhuang", code=f"WPW{n}", name=f"慢病{n}", group=Disease.Group.values[0])
    return chronic.registration_propose(user=UserFactory(roles=[Role.CASE_WORKER]), member=_member(), disease=disease,
                                        valid_from=date(2026, 1, 1))


def _registration_step(wp, status, action, data=None):
    def case(w):
        def check(w, objects, response):
            assert objects[0].status == status, wp._messages(response)
            assert _audited(action, objects[0])

        return wp.ActionCase(objects=[_registration(w)], data=data or {}, check=check, allowed=_case_worker)

    return case


def _chosen(w=None):
    from claims.chosen_institutions import chosen_institution_register

    return chosen_institution_register(user=UserFactory(roles=[Role.CASE_WORKER]), member=_member(),
                                       provider=_provider(), valid_from=date(2026, 1, 1))


def _chosen_end(wp):
    def case(w):
        def check(w, objects, response):
            assert objects[0].valid_to == date(2026, 6, 30) and objects[0].end_reason == "迁出", wp._messages(response)
            assert _audited("chosen_institution.end", objects[0])

        return wp.ActionCase(objects=[_chosen(w)], data={"apply": "1", "last_day": "2026-06-30", "reason": "迁出"},
                             check=check, allowed=_case_worker)

    return case


def _chosen_change(wp):
    def case(w):
        from claims.models import ChosenInstitution

        chosen, new = _chosen(w), _provider()

        def check(w, objects, response):
            assert objects[0].valid_to == date(2026, 6, 30), wp._messages(response)
            assert ChosenInstitution.objects.filter(member=chosen.member, provider=new, valid_from=date(2026, 7, 1)).exists()

        return wp.ActionCase(objects=[chosen], check=check, allowed=_case_worker,
                             data={"apply": "1", "provider": str(new.pk), "from_day": "2026-07-01", "reason": "就近"})

    return case


def _pending_version(wp, w):
    """A settled claim of the Zaozhuang version with a second payment pending, the version's
    ratio set (what a case worker proposes to pay)."""
    from claims.models import Claim, PolicyVersion

    claim = wp._claim(w)
    Claim.objects.filter(pk=claim.pk).update(large_expense_pending_base=Decimal("20.00"))
    version = PolicyVersion.objects.get(pk=claim.policy_version_id)
    # The open ratio, set (Jinan (七)); a threshold no later test settlement reaches.
    parameters = {**version.parameters, "large_expense_subsidy": {"threshold": "999999.00", "ratio_percent": 80}}
    PolicyVersion.objects.filter(pk=version.pk).update(parameters=parameters)
    return version, claim


def _propose_batch(wp):
    def case(w):
        from claims.models import SubsidyBatch

        version, claim = _pending_version(wp, w)

        def check(w, objects, response):
            batch = SubsidyBatch.objects.get(policy_version=version, status="proposed")
            assert (batch.payment_count, batch.total) == (1, Decimal("16.00")), wp._messages(response)
            assert _audited("subsidy_batch.propose", batch)

        return wp.ActionCase(objects=[version], check=check, allowed=_case_worker)

    return case


def _batch(wp, w):
    from claims.models import SubsidyBatch
    from claims.subsidy_batches import subsidy_batch_propose

    version, _claim = _pending_version(wp, w)
    # One batch of a version waits at a time: a role's earlier one (left waiting when the role
    # was refused) is set aside, so this batch holds this claim alone.
    SubsidyBatch.objects.filter(policy_version=version, status="proposed").update(status="approved")
    return subsidy_batch_propose(user=UserFactory(roles=[Role.CASE_WORKER]), policy_version_id=version.pk)


def _approve_batch(wp):
    def case(w):
        def check(w, objects, response):
            assert objects[0].status == "approved" and objects[0].total == Decimal("16.00"), wp._messages(response)
            assert _audited("subsidy_batch.approve", objects[0])

        return wp.ActionCase(objects=[_batch(wp, w)], check=check, allowed=_case_worker)

    return case


def _deduction(w=None):
    from claims.statements.services import deduction_record

    n = w.n() if w else 0
    return deduction_record(provider=_provider(), amount=Decimal("50.00"), reason="写路径扣款",
                            source_reference=f"write-path:{n}", user=UserFactory(roles=[Role.AUDITOR]))


def _reconciliation(w=None):
    from claims.models import Reconciliation

    totals = {"count": 1, "total": "10.00", "fund": "5.00", "account": "3.00", "cash": "2.00"}
    return Reconciliation.objects.create(
        provider=_provider(), period_from=date(2026, 3, 1), period_to=date(2026, 3, 31), submitted=totals,
        agency=totals, result=Reconciliation.Result.values[0], submitted_by=UserFactory())


def _year_end(w=None, status="draft"):
    """A provider paid against a budget in 2025 (no statement: nothing left to approve), its
    year-end settlement prepared by a finance officer none of the world's users."""
    from claims.models import YearEndSettlement
    from claims.statements.year_end import year_end_prepare
    from pharmacies.models import Agreement, PaymentTerms

    provider = _provider()
    agreement = Agreement.objects.create(
        provider=provider, period_from=date(2025, 1, 1), period_to=date(2027, 12, 31),
        payment_method=Agreement.PaymentMethod.PER_ITEM, outpatient_pooling=True, status=Agreement.Status.ACTIVE,
        signed_by=UserFactory())
    PaymentTerms.objects.create(agreement=agreement, year=2025, budget=True, budget_amount=Decimal("1200.00"))
    settlement = year_end_prepare(provider=provider, year=2025, user=UserFactory(roles=[Role.FINANCE]))
    if status == "approved":
        YearEndSettlement.objects.filter(pk=settlement.pk).update(status=status, approved_by=UserFactory(),
                                                                  approved_at=timezone.now())
        settlement.refresh_from_db()
    return settlement


def _year_end_approve(wp):
    def case(w):
        def check(w, objects, response):
            assert objects[0].status == "approved", wp._messages(response)
            assert _audited("year_end.approve", objects[0])

        return wp.ActionCase(objects=[_year_end(w)], check=check, allowed=_finance)

    return case


def _year_end_pay(wp):
    def case(w):
        settlement = _year_end(w, "approved")

        def check(w, response):
            settlement.refresh_from_db()
            assert (settlement.status, settlement.payment_reference) == ("paid", "BANK-2025")
            assert _audited("year_end.pay", settlement)

        return wp.ViewCase(args=[settlement.pk], data={"payment_reference": "BANK-2025"}, check=check, allowed=_finance)

    return case


def _year_end_prepare(wp):
    def case(w):
        from claims.models import YearEndSettlement

        settlement = _year_end(w)
        YearEndSettlement.objects.filter(pk=settlement.pk).delete()  # its terms stay: prepared again here
        provider = settlement.provider

        def check(w, response):
            prepared = YearEndSettlement.objects.get(provider=provider, year=2025)
            assert prepared.prepared_by is not None and _audited("year_end.prepare", prepared)

        return wp.ViewCase(args=[], data={"provider": provider.code, "year": "2025", "assessment_percent": "100"},
                           check=check, allowed=_finance)

    return case


# --- core: second-factor resets (one administrator proposes, another decides) ---------------


def _reset(w=None):
    from core.otp import second_factor_reset_propose

    return second_factor_reset_propose(user=UserFactory(roles=[Role.AUDITOR]), reason="手机丢失",
                                       actor=UserFactory(roles=[Role.ADMINISTRATOR]))


def _reset_step(wp, status, action):
    def case(w):
        def check(w, objects, response):
            assert objects[0].status == status, wp._messages(response)
            assert objects[0].decided_by is not None and objects[0].decided_by != objects[0].proposed_by
            assert _audited(action, objects[0].user)

        return wp.ActionCase(objects=[_reset(w)], check=check)

    return case


# --- supervision: flags, scores, rules, the national rule library ---------------------------


def _flag(w=None, status="new"):
    from supervision.models import Flag, Rule

    rule = Rule.objects.order_by("pk").first()
    flag = Flag.objects.create(rule=rule, item_key=f"wp-{w.n() if w else 0}", day=date(2026, 3, 2),
                               provider=_provider(), message="写路径疑点")
    if status == "confirmed":
        Flag.objects.filter(pk=flag.pk).update(
            status=status, confirmed_amount=Decimal("40.00"), confirmed_on=date(2026, 3, 10),
            appeal_deadline=timezone.localdate() - timedelta(days=1),
            first_reviewer=UserFactory(), second_reviewer=UserFactory())
        flag.refresh_from_db()
    return flag


def _deduct(wp):
    def case(w):
        from claims.models import Deduction

        flag = _flag(w, "confirmed")

        def check(w, objects, response):
            assert objects[0].status == "deducted", wp._messages(response)
            assert Deduction.objects.filter(source_reference=f"supervision.flag:{flag.pk}", amount=Decimal("40.00")).exists()

        return wp.ActionCase(objects=[flag], check=check, allowed=_auditor)

    return case


def _first_review(wp):
    def case(w):
        flag = _flag(w)

        def check(w, response):
            flag.refresh_from_db()
            assert (flag.status, flag.first_opinion) == ("first_reviewed", "证据充分")

        return wp.ViewCase(args=[flag.pk], data={"opinion": "证据充分"}, check=check, allowed=_auditor)

    return case


def _recompute(wp):
    def case(w):
        from supervision.models import ProviderCreditScore

        provider = _provider()

        def check(w, objects, response):
            assert ProviderCreditScore.objects.filter(provider=provider, year=timezone.localdate().year).exists(), (
                wp._messages(response))

        return wp.ActionCase(objects=[_score(w)], check=check, allowed=_auditor)

    return case


def _score(w=None):
    from supervision.models import ProviderCreditScore

    return ProviderCreditScore.objects.create(provider=_provider(), year=2025, score=90, grade="A")


def _rule(w=None):
    from supervision.models import Rule

    return Rule.objects.order_by("pk").first()


def _rule_change(w, rule):
    return {"description": f"写路径规则说明{w.n()}"}


def _rulebase_upload(wp):
    def case(w):
        import tempfile
        from pathlib import Path

        from django.core.files.uploadedfile import SimpleUploadedFile

        from supervision.models import FrequencyLimit, RulebaseImport
        from tests.supervision.helpers import batch_8_1

        code = f"WPF{w.n()}"
        with tempfile.TemporaryDirectory() as folder:
            content = batch_8_1(Path(folder) / "b8.xlsx", [(code, 1, "日")]).read_bytes()
        upload = SimpleUploadedFile("b8.xlsx", content, content_type="application/vnd.ms-excel")

        def check(w, response):
            assert FrequencyLimit.objects.filter(item_code=code).exists()
            assert RulebaseImport.objects.filter(file_name="b8.xlsx").exists()

        return wp.ViewCase(args=[], data={"file": upload, "batch": ""}, check=check, allowed=_auditor)

    return case


# --- registration ----------------------------------------------------------------------------


def register(wp) -> None:
    """Add the workflow builders to `wp.BUILDERS` (wp: the test module)."""
    B = wp.BUILDERS

    B["members.AccountDecision"].make = _decision
    B["members.AccountDecision"].actions.update({
        "approve": _decide(wp, "executed", "account.withdrawal_approve"),
        "reject": _decide(wp, "rejected", "account.withdrawal_reject")})
    B["members.LateRefund"].make = _late_refund
    B["members.LateRefund"].actions["approve"] = _pay_late_refund(wp)

    B["claims.ChronicRegistration"].make = _registration
    B["claims.ChronicRegistration"].actions.update({
        "approve": _registration_step(wp, "approved", "chronic_registration.approve"),
        "revoke": _registration_step(wp, "revoked", "chronic_registration.revoke", {"apply": "1", "reason": "材料不实"})})
    B["claims.ChosenInstitution"].make = _chosen
    B["claims.ChosenInstitution"].actions.update({"end": _chosen_end(wp), "change": _chosen_change(wp)})
    B["claims.PolicyVersion"].actions["propose_pending_second_payments"] = _propose_batch(wp)
    B["claims.SubsidyBatch"].make = lambda w: _batch(wp, w)
    B["claims.SubsidyBatch"].actions["approve"] = _approve_batch(wp)
    B["claims.Deduction"].make = _deduction
    B["claims.Reconciliation"].make = _reconciliation
    B["claims.YearEndSettlement"].make = _year_end
    B["claims.YearEndSettlement"].actions.update({"approve_selected": _year_end_approve(wp),
                                                  "export_xlsx": wp._xlsx_export(_year_end)})
    B["claims.YearEndSettlement"].views.update({"print": wp.READ_ONLY, "xlsx": wp.READ_ONLY, "pay": _year_end_pay(wp),
                                                "prepare": _year_end_prepare(wp)})

    B["core.SecondFactorReset"].make = _reset
    B["core.SecondFactorReset"].actions.update({
        "approve": _reset_step(wp, "approved", "auth.otp_reset_approve"),
        "reject": _reset_step(wp, "rejected", "auth.otp_reset_reject")})

    B["supervision.Flag"].make = _flag
    B["supervision.Flag"].actions["deduct"] = _deduct(wp)
    B["supervision.Flag"].views.update({"dashboard": wp.READ_ONLY, "step": _first_review(wp)})
    B["supervision.ProviderCreditScore"].make = _score
    B["supervision.ProviderCreditScore"].actions["recompute"] = _recompute(wp)
    B["supervision.Rule"].make = _rule
    B["supervision.Rule"].change = _rule_change
    B["supervision.RulebaseImport"].views["upload"] = _rulebase_upload(wp)
