"""Benchmark: close a month of N settlements across P providers on PostgreSQL.

    python manage.py bench_close_month [--claims 1000000] [--providers 2000] [--month 2001-01] [--keep]

Generates the settlements in the database (INSERT … SELECT generate_series: no Python loop
over claims), 2% of them reversed, one in seven with a large-amount subsidy (every fund of
claims.funds is on the statement), one in a hundred from the cross-region platform (no local
provider: the 省内/省外 clearing statements), a deduction for one provider in ten; with the payment
methods (default; --no-methods for the per-item month alone): payment terms for one provider in
four (budget with a deposit, capitation, per disease, and budget + capitation + per disease),
every member registered with a capitation provider, one settlement in twenty a chronic-disease
case, one in fifty with a separately paid drug's line; then times
close_month (first run: statements created) and its rerun (drafts replaced), checks that the
statements add up to the settlements, and removes the generated data unless --keep. Writes into
the configured database: run it on a scratch PostgreSQL database.
"""

import json
import platform
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from claims.models import Claim, Deduction, PolicyVersion, ProviderStatement
from claims.statements.services import local_bounds, month_end, parse_month, statement_close_month
from core.idnumber import make_id_number
from devtools.guard import require_bench_database
from members.models import Member
from pharmacies.models import Provider

SUBMITTER = "BENCH"
PROVIDER_PREFIX = "H99"  # H + 11 digits: H99000000001…
MEMBER_PREFIX = "990100"


class Command(BaseCommand):
    help = "Generate a month of settlements on PostgreSQL and time close_month (goal: 1M in < 30 s)."

    def add_arguments(self, parser):
        parser.add_argument("--claims", type=int, default=1_000_000)
        parser.add_argument("--providers", type=int, default=2_000)
        parser.add_argument("--members", type=int, default=5_000)
        parser.add_argument("--month", default="2001-01")
        parser.add_argument("--keep", action="store_true", help="keep the generated data")
        parser.add_argument("--no-methods", action="store_true", help="every provider paid per item")

    def handle(self, *args, claims, providers, members, month, keep, no_methods=False, **options):
        require_bench_database()
        if connection.vendor != "postgresql":
            raise CommandError("bench_close_month runs on PostgreSQL (set DATABASE_URL)")
        first = parse_month(month)
        self._cleanup(first)
        started = time.monotonic()
        provider_ids, member_ids = self._reference_rows(providers, members)
        self._generate(first, claims, provider_ids, member_ids)
        if not no_methods:
            self._methods(first, provider_ids, member_ids)
        generated = time.monotonic() - started
        self.stdout.write(f"generated {claims:,} settlements for {providers:,} providers in {generated:.1f} s")

        timings = []
        for label in ("close_month", "close_month again (drafts replaced)"):
            started = time.monotonic()
            result = statement_close_month(month=first)
            timings.append(time.monotonic() - started)
            self.stdout.write(f"{label}: {timings[-1]:.2f} s ({result.created} created, {result.replaced} replaced)")

        self._check(first)
        self._check_methods(first)
        self.stdout.write(
            f"RESULT close_month {claims:,} settlements / {providers:,} providers: {timings[0]:.2f} s "
            f"(rerun {timings[1]:.2f} s) on PostgreSQL {connection.pg_version // 10000}, "
            f"{platform.machine()} {platform.python_version()}"
        )
        if not keep:
            self._cleanup(first)

    def _reference_rows(self, providers: int, members: int):
        user, _ = get_user_model().objects.get_or_create(username="bench-close-month")
        self.user = user
        if not PolicyVersion.objects.exists():
            from claims.policy_services import policy_load

            path = Path(__file__).resolve().parents[3] / "claims" / "policies" / "zaozhuang.json"
            policy_load(data=json.loads(path.read_text(encoding="utf-8")))
        self.policy_id = PolicyVersion.objects.order_by("pk").values_list("pk", flat=True).first()
        Provider.objects.bulk_create(
            [Provider(code=f"{PROVIDER_PREFIX}{i:09d}", name=f"基准机构{i}", kind="institution", level="level_1")
             for i in range(1, providers + 1)],
            ignore_conflicts=True, batch_size=1000,
        )
        born = date(1970, 1, 1)
        Member.objects.bulk_create(
            [Member(id_number=make_id_number(f"{int(MEMBER_PREFIX) + i // 1000:06d}", born, i % 1000),
                    name=f"基准参保人{i}", sex="M" if i % 2 else "F", birth_date=born)
             for i in range(members)],
            ignore_conflicts=True, batch_size=1000,
        )
        provider_ids = list(Provider.objects.filter(code__startswith=PROVIDER_PREFIX).order_by("pk")
                            .values_list("pk", flat=True)[:providers])
        member_ids = list(Member.objects.filter(name__startswith="基准参保人").order_by("pk")
                          .values_list("pk", flat=True)[:members])
        return provider_ids, member_ids

    def _generate(self, first: date, claims: int, provider_ids: list[int], member_ids: list[int]):
        start, end = local_bounds(first, month_end(first))
        seconds = int((end - start).total_seconds())
        with transaction.atomic(), connection.cursor() as cursor:
            # Amounts vary to the fen; total = fund + large-amount subsidy + account + family_account
            # + cash. One in a hundred comes from the cross-region platform (provider NULL).
            cursor.execute(
                """
                INSERT INTO claims_claim (
                    submitter, external_ref, request_hash, provider_id, remote_provider_code, remote_provider_name,
                    provider_level, member_id, visit_date, year, visit_place, temporary_visit, use_account,
                    policy_version_id, total, fully_self_paid, over_limit, class_b_prepay, policy_scope,
                    temporary_visit_prepay, deductible, pay_ratio_percent, fund, large_expense_subsidy,
                    large_expense_burden_added, personal_burden, account, family_account, cash, denied_reason,
                    status, settled_at, settled_by_id, response, reversed_at, reversal_reason, benefit)
                SELECT CASE WHEN cr THEN 'cross_region' ELSE %(submitter)s END,
                       CASE WHEN cr THEN 'BENCH-CR-' ELSE 'BENCH-' END || g, '',
                       CASE WHEN cr THEN NULL ELSE (%(providers)s::bigint[])[1 + g %% %(np)s] END, '', '',
                       'level_1', (%(members)s::bigint[])[1 + g %% %(nm)s], (%(start)s::timestamptz + s)::date,
                       %(year)s,
                       CASE WHEN NOT cr THEN 'local' WHEN g %% 200 = 1 THEN 'out_of_province' ELSE 'in_province' END,
                       false, true, %(policy)s,
                       f + sb + a + fa + c, 0, 0, 0, f + sb + a + fa + c, 0, 0, 70, f, sb, 0, a + fa + c, a, fa, c, '',
                       CASE WHEN g %% 50 = 0 THEN 'reversed' ELSE 'settled' END,
                       %(start)s::timestamptz + s, %(user)s, '{}'::jsonb,
                       CASE WHEN g %% 50 = 0 THEN %(start)s::timestamptz + s + interval '2 hours' END, '', 'outpatient_pooling'
                FROM (
                    SELECT g,
                           ((g::bigint * 7919) %% %(seconds)s) * interval '1 second' AS s,
                           ((g %% 99991) / 100.0)::numeric(14, 2) AS f,
                           ((g %% 331) / 100.0)::numeric(14, 2) AS a,
                           (CASE WHEN g %% 10 = 0 THEN 1.01 ELSE 0 END)::numeric(14, 2) AS fa,
                           ((g %% 577) / 100.0)::numeric(14, 2) AS c,
                           (CASE WHEN g %% 7 = 0 THEN (g %% 2003) / 100.0 ELSE 0 END)::numeric(14, 2) AS sb,
                           (g %% 100 = 1) AS cr
                    FROM generate_series(1, %(n)s) AS g
                ) AS rows
                """,
                {"submitter": SUBMITTER, "providers": provider_ids, "np": len(provider_ids), "members": member_ids,
                 "nm": len(member_ids), "start": start, "year": first.year, "policy": self.policy_id,
                 "user": self.user.pk, "seconds": seconds, "n": claims},
            )
            # A deduction for one provider in ten, decided in the month.
            Deduction.objects.bulk_create([
                Deduction(provider_id=pk, amount=Decimal("12.34"), reason="bench",
                          source_reference=f"bench:{first:%Y%m}:{pk}", decided_by=self.user, decided_on=first)
                for pk in provider_ids[::10]
            ])
            cursor.execute("ANALYZE claims_claim")

    def _methods(self, first: date, provider_ids: list[int], member_ids: list[int]):
        """Payment terms, primary-care registrations, chronic cases and separately paid drug lines."""
        from claims.chronic_models import ChronicRegistration, ChronicYear, Disease
        from claims.models import CatalogItem
        from members.models import PrimaryCareRegistration
        from pharmacies.models import Agreement, PaymentTerms

        with transaction.atomic(), connection.cursor() as cursor:
            agreements = Agreement.objects.bulk_create([
                Agreement(provider_id=pk, period_from=first.replace(month=1), period_to=first.replace(month=12, day=31),
                          payment_method="per_item", outpatient_pooling=True, status="active", signed_by=self.user)
                for pk in provider_ids[::4]
            ], batch_size=1000)
            kinds = ({"budget": True}, {"capitation": True}, {"per_disease": True},
                     {"budget": True, "capitation": True, "per_disease": True})
            PaymentTerms.objects.bulk_create([
                PaymentTerms(agreement=agreement, year=first.year, **kinds[index % 4],
                             budget_amount=Decimal("6000000.00"), deposit_percent=Decimal("10"),
                             capitation_rate=Decimal("15.00"), disease_standards={"BENCH-I10": "180.00"},
                             deposit_return_percent={"A": "100", "B": "80"})
                for index, agreement in enumerate(agreements)
            ], batch_size=1000)
            capitation = [agreement.provider_id for index, agreement in enumerate(agreements) if index % 4 in (1, 3)]
            PrimaryCareRegistration.objects.bulk_create([
                PrimaryCareRegistration(member_id=member, provider_id=capitation[index % len(capitation)],
                                        valid_from=first.replace(month=1))
                for index, member in enumerate(member_ids)
            ], batch_size=1000)
            disease = Disease.objects.create(region="zaozhuang", code="BENCH-I10", name="基准病种", group="chronic")
            ChronicRegistration.objects.bulk_create([
                ChronicRegistration(member_id=member, disease=disease, valid_from=first.replace(month=1))
                for member in member_ids], batch_size=1000)
            ChronicYear.objects.bulk_create([ChronicYear(member_id=member, year=first.year, tally="bench")
                                             for member in member_ids], batch_size=1000)
            cursor.execute("""
                UPDATE claims_claim SET benefit = 'chronic_special'
                WHERE submitter = %(submitter)s AND (id / 2000 + id) %% 20 = 3""", {"submitter": SUBMITTER})
            cursor.execute("""
                INSERT INTO claims_chronicclaim (claim_id, disease_id, registration_id, tally_id, out_of_scope)
                SELECT c.id, %(disease)s, r.id, y.id, 0
                FROM claims_claim c
                JOIN claims_chronicregistration r ON r.member_id = c.member_id AND r.disease_id = %(disease)s
                JOIN claims_chronicyear y ON y.member_id = c.member_id AND y.year = %(year)s AND y.tally = 'bench'
                WHERE c.submitter = %(submitter)s AND (c.id / 2000 + c.id) %% 20 = 3""",
                {"disease": disease.pk, "year": first.year, "submitter": SUBMITTER})
            drug, _ = CatalogItem.objects.get_or_create(code="BENCH-NEGOTIATED", defaults={
                "name": "基准谈判药", "kind": "drug", "item_class": "A", "separately_paid": True})
            # A line of the separately paid drug worth 40% of the settlement's policy scope.
            cursor.execute("""
                INSERT INTO claims_claimline (claim_id, position, catalog_item_id, quantity, unit_price, amount,
                                              fully_self_paid, over_limit, class_b_prepay, policy_scope)
                SELECT id, 1, %(drug)s, 1, round(policy_scope * 0.4, 2), round(policy_scope * 0.4, 2), 0, 0, 0,
                       round(policy_scope * 0.4, 2)
                FROM claims_claim WHERE submitter = %(submitter)s AND (id / 2000 + id) %% 50 = 7 AND policy_scope > 0""",
                {"drug": drug.pk, "submitter": SUBMITTER})
            cursor.execute("ANALYZE claims_claim")
            cursor.execute("ANALYZE claims_claimline")

    def _check_methods(self, first: date):
        """A per-item provider's payable is still every fund + accounts − deductions; a provider
        with terms has its methods named."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE payment_methods = ''), "
                "count(*) FILTER (WHERE payment_methods = '' AND payable <> fund + large_expense_subsidy "
                "  - reversed_fund - reversed_large_expense_subsidy + account + family_account - reversed_account "
                "  - reversed_family_account - deductions_total), "
                "count(*) FILTER (WHERE payment_methods <> ''), sum(budget_paid), sum(deposit_withheld), "
                "sum(capitation_amount), sum(per_disease_amount), sum(separately_paid) "
                "FROM claims_providerstatement WHERE month = %s AND provider_id IS NOT NULL", [first])
            per_item, wrong, methods, budget, deposit, capitation, disease, separately = cursor.fetchone()
        self.stdout.write(
            f"methods: {per_item:,} per-item statements ({wrong} with a payable off the per-item formula), "
            f"{methods:,} with terms: budget paid {budget}, deposit {deposit}, capitation {capitation}, "
            f"per disease {disease}, separately paid drugs {separately}")
        if wrong:
            raise CommandError(f"{wrong} per-item statements changed")

    def _check(self, first: date):
        start, end = local_bounds(first, month_end(first))
        with connection.cursor() as cursor:
            # Providers' and clearing statements together, every fund.
            cursor.execute(
                "SELECT count(*), sum(fund), sum(large_expense_subsidy), sum(account + family_account) FROM claims_claim "
                "WHERE (provider_id IS NOT NULL OR submitter = 'cross_region') AND settled_at >= %s AND settled_at < %s",
                [start, end],
            )
            count, fund, subsidy, account = cursor.fetchone()
            cursor.execute(
                "SELECT sum(settlement_count), sum(fund), sum(large_expense_subsidy), sum(account + family_account), "
                "count(*) FILTER (WHERE provider_id IS NULL) FROM claims_providerstatement WHERE month = %s",
                [first],
            )
            *totals, clearing_statements = cursor.fetchone()
        ok = (count, fund, subsidy, account) == tuple(totals)
        self.stdout.write(f"check: statements add up to the settlements: {'yes' if ok else 'NO'} "
                          f"({count:,} settlements, fund {fund}, large-amount subsidy {subsidy}, accounts {account}, "
                          f"{clearing_statements} cross-region clearing statements)")
        if not ok:
            raise CommandError(f"statements {totals} != settlements {(count, fund, subsidy, account)}")

    def _cleanup(self, first: date):
        from claims.chronic_models import ChronicClaim, ChronicRegistration, ChronicYear, Disease
        from claims.models import ClaimLine
        from members.models import PrimaryCareRegistration
        from pharmacies.models import Agreement, PaymentTerms

        with transaction.atomic():
            bench_claims = Claim.objects.filter(submitter=SUBMITTER)
            ClaimLine.objects.filter(claim__in=bench_claims)._raw_delete(Claim.objects.db)
            ChronicClaim.objects.filter(claim__in=bench_claims)._raw_delete(Claim.objects.db)
            ChronicRegistration.objects.filter(disease__code="BENCH-I10")._raw_delete(Claim.objects.db)
            ChronicYear.objects.filter(tally="bench")._raw_delete(Claim.objects.db)
            Disease.objects.filter(code="BENCH-I10")._raw_delete(Claim.objects.db)
            PrimaryCareRegistration.objects.filter(provider__code__startswith=PROVIDER_PREFIX)._raw_delete(Claim.objects.db)
            PaymentTerms.objects.filter(agreement__provider__code__startswith=PROVIDER_PREFIX)._raw_delete(Claim.objects.db)
            Agreement.objects.filter(provider__code__startswith=PROVIDER_PREFIX)._raw_delete(Claim.objects.db)
            Deduction.objects.filter(source_reference__startswith="bench:").update(statement=None)
            Deduction.objects.filter(source_reference__startswith="bench:").delete()
            # Raw delete: the bench's statements are drafts (the model guard protects approved ones).
            ProviderStatement.objects.filter(month=first, provider__code__startswith=PROVIDER_PREFIX,
                                             status=ProviderStatement.Status.DRAFT).delete()
            ProviderStatement.objects.filter(month=first, provider__isnull=True, status=ProviderStatement.Status.DRAFT).delete()
            Claim.objects.filter(submitter=SUBMITTER)._raw_delete(Claim.objects.db)
            Claim.objects.filter(submitter="cross_region", external_ref__startswith="BENCH-CR-")._raw_delete(Claim.objects.db)
