"""Benchmark: the whole rule set over N settlements (default 1,000,000, two lines each) on PostgreSQL.

The data is generated with generate_series inside one transaction that is rolled back at the
end (nothing stays behind unless --keep). Prints the generation time, then the time per rule
and the total of the monitoring run over the year.
"""

import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from devtools.guard import require_bench_database
from supervision.monitoring import monitoring_run


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Generate N settlements with lines on PostgreSQL and time the monitoring rule set over them."

    def add_arguments(self, parser):
        parser.add_argument("--claims", type=int, default=1_000_000)
        parser.add_argument("--members", type=int, default=100_000)
        parser.add_argument("--providers", type=int, default=500)
        parser.add_argument("--items", type=int, default=2_000)
        parser.add_argument("--keep", action="store_true", help="commit the generated data instead of rolling back")

    def handle(self, *args, **options):
        require_bench_database()
        if connection.vendor != "postgresql":
            raise CommandError("bench_monitoring runs on PostgreSQL (set DATABASE_URL).")
        try:
            with transaction.atomic():
                self._run(**options)
                if not options["keep"]:
                    raise Rollback
        except Rollback:
            self.stdout.write("(generated data rolled back)")

    def _sql(self, sql, params=None):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    def _run(self, *, claims, members, providers, items, **options):
        from django.contrib.auth import get_user_model

        from claims.models import PolicyVersion

        started = time.perf_counter()
        user = get_user_model().objects.create(username=f"bench-{time.time_ns()}")
        policy = PolicyVersion.objects.order_by("pk").first()
        if policy is None:
            raise CommandError("Load a region policy first (python manage.py load_policy).")
        tag = time.time_ns() % 100_000
        before = {table: self._sql(f"SELECT COALESCE(max(id), 0) FROM {table}")[0][0] for table in (
            "pharmacies_provider", "members_member", "claims_catalogitem", "claims_claim")}
        # Providers: 1 in 4 a pharmacy; ten districts; three levels.
        self._sql(
            """INSERT INTO pharmacies_provider (code, name, kind, level, outpatient_pooling, status, district, created_at)
               SELECT CASE WHEN i %% 4 = 0 THEN 'P' ELSE 'H' END || lpad((%s::bigint * 1000000 + i)::text, 11, '0'),
                      'bench ' || i, CASE WHEN i %% 4 = 0 THEN 'pharmacy' ELSE 'institution' END,
                      CASE WHEN i %% 4 = 0 THEN '' ELSE (ARRAY['level_1','level_2','level_3'])[1 + i %% 3] END,
                      true, 'active', 'district ' || (i %% 10), now()
               FROM generate_series(1, %s) i""", [tag, providers])
        first_provider, last_provider = self._sql("SELECT min(id), max(id) FROM pharmacies_provider WHERE id > %s",
                                                  [before["pharmacies_provider"]])[0]
        # Members: 0.1 % deceased; 1 % with an inpatient stay.
        self._sql(
            """INSERT INTO members_member (id_number, name, sex, birth_date, phone, status, died_on, created_at, updated_at)
               SELECT 'B' || lpad(%s::text, 7, '0') || lpad(i::text, 10, '0'), 'bench', CASE WHEN i %% 2 = 0 THEN 'F' ELSE 'M' END,
                      date '1960-01-01' + (i %% 15000), '', CASE WHEN i %% 1000 = 0 THEN 'deceased' ELSE 'active' END,
                      CASE WHEN i %% 1000 = 0 THEN date '2024-06-01' END, now(), now()
               FROM generate_series(1, %s) i""", [tag, members])
        first_member = self._sql("SELECT min(id) FROM members_member WHERE id > %s", [before["members_member"]])[0][0]
        self._sql(
            """INSERT INTO members_episode (member_id, kind, start_date, end_date)
               SELECT %s + i, 'inpatient_stay', date '2024-01-01' + (i %% 300), date '2024-01-01' + (i %% 300) + 10
               FROM generate_series(0, %s - 1, 100) i""", [first_member, members])
        # Catalog: drugs and services; a share of them in the knowledge base.
        self._sql(
            """INSERT INTO claims_catalogitem (code, name, kind, item_class, platform_price, sex)
               SELECT 'BENCH' || %s || '-' || i, 'bench item ' || i, CASE WHEN i %% 3 = 0 THEN 'service' ELSE 'drug' END,
                      (ARRAY['A','B','C'])[1 + i %% 3], CASE WHEN i %% 10 = 0 THEN 50 END, ''
               FROM generate_series(1, %s) i""", [tag, items])
        first_item = self._sql("SELECT min(id) FROM claims_catalogitem WHERE id > %s", [before["claims_catalogitem"]])[0][0]
        prefix = f"BENCH{tag}-"
        self._sql("DELETE FROM supervision_sexrestricteddrug; DELETE FROM supervision_supplystandard; "
                  "DELETE FROM supervision_frequencylimit; DELETE FROM supervision_repeatedchargepair")
        self._sql("""INSERT INTO supervision_sexrestricteddrug (drug_code, generic_name, sex, description)
                     SELECT %s || i, 'drug', CASE WHEN i %% 2 = 0 THEN 'F' ELSE 'M' END, '' FROM generate_series(1, %s, 500) i""",
                  [prefix, items])
        self._sql("""INSERT INTO supervision_supplystandard (item_code, daily_quantity, chronic)
                     SELECT %s || i, 1 + i %% 3, i %% 5 = 0 FROM generate_series(1, %s) i WHERE i %% 3 <> 0""", [prefix, items])
        self._sql("""INSERT INTO supervision_frequencylimit (number, item_code, item_name, max_count, unit)
                     SELECT i, %s || i, '', 5, '日' FROM generate_series(3, %s, 30) i""", [prefix, items])
        self._sql("""INSERT INTO supervision_repeatedchargepair (number, period, main_code, main_name, included_code, included_name, note)
                     SELECT i, CASE WHEN i %% 2 = 0 THEN '单日' ELSE '单次就诊' END, %s || i, '', %s || (i + 3), '', ''
                     FROM generate_series(3, %s - 3, 9) i""", [prefix, prefix, items])
        # Settlements over 2024, two lines each. Planted: one member with a settlement in every
        # 2,000 (frequent visits, two places), a costly provider from November (indicators),
        # drained balances, prices above the platform price, 40-unit lines (over-quantity,
        # frequency) and every 100th settlement charging an item with the one that includes it.
        self._sql(
            """INSERT INTO claims_claim (submitter, external_ref, request_hash, provider_id, remote_provider_code,
                 remote_provider_name, provider_level, member_id, visit_date, year, visit_place, temporary_visit, use_account,
                 policy_version_id, total, fully_self_paid, over_limit, class_b_prepay, policy_scope, temporary_visit_prepay,
                 deductible, pay_ratio_percent, fund, large_expense_subsidy, large_expense_burden_added, personal_burden,
                 account, family_account, cash, balance_after, denied_reason, status, settled_at, settled_by_id, response,
                 reversal_reason)
               SELECT 'bench', %s || '-' || i, '', %s + CASE WHEN i %% 2000 = 0 THEN i / 2000 ELSE i * 7 END %% %s, '', '', 'level_1', %s + CASE WHEN i %% 2000 = 0 THEN 0 ELSE (i * 31) %% %s END,
                      date '2024-01-01' + (i %% 366), 2024, 'local', false, true, %s,
                      20 + (i %% 300) + CASE WHEN (i * 7) %% 500 = 5 AND i %% 366 > 300 THEN 2000 ELSE 0 END,
                      (i %% 7) * 3, 0, 0, 20 + (i %% 300), 0, 0, 60,
                      (20 + (i %% 300)) * 0.5, 0, 0, (20 + (i %% 300)) * 0.5, CASE WHEN i %% 3 = 0 THEN 10 + (i %% 300) ELSE 0 END,
                      0, 0, CASE WHEN i %% 49 = 0 THEN 0 ELSE 100 END, '', 'settled', now(), %s, '{}', ''
               FROM generate_series(1, %s) i""",
            [tag, first_provider, last_provider - first_provider + 1, first_member, members, policy.pk, user.pk, claims])
        first_claim, last_claim = self._sql("SELECT min(id), max(id) FROM claims_claim WHERE id > %s",
                                            [before["claims_claim"]])[0]
        self._sql(
            """INSERT INTO claims_claimline (claim_id, position, catalog_item_id, quantity, unit_price, amount,
                 fully_self_paid, over_limit, class_b_prepay, policy_scope)
               SELECT c, pos, item, quantity, price, quantity * price, 0, 0, 0, 0 FROM (
                 SELECT c, pos, %s + ((c::bigint * 7919 + CASE WHEN pos = 1 AND c %% 100 = 0 THEN 3 ELSE pos * 104729 END) %% %s) AS item,
                        CASE WHEN (c::bigint * 13 + pos) %% 499 = 0 THEN 40 ELSE 1 + (c + pos) %% 5 END AS quantity,
                        CASE WHEN c %% 997 = 0 THEN 60 ELSE 5 + (c %% 40) END AS price
                 FROM generate_series(%s, %s) c CROSS JOIN generate_series(0, 1) pos) generated""",
            [first_item, items, first_claim, last_claim])
        self._sql("ANALYZE claims_claim; ANALYZE claims_claimline; ANALYZE members_member; ANALYZE members_episode; "
                  "ANALYZE pharmacies_provider; ANALYZE claims_catalogitem")
        generated = time.perf_counter() - started
        self.stdout.write(f"generated {claims:,} settlements, {2 * claims:,} lines, {members:,} members, "
                          f"{providers:,} providers in {generated:.1f} s")
        started = time.perf_counter()
        run = monitoring_run(date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))
        total = time.perf_counter() - started
        for code, item in run.per_rule.items():
            self.stdout.write(f"  {code:24} {item['seconds']:8.2f} s   findings {item['findings']:8,}   flags {item['raised']:8,}")
        self.stdout.write(f"whole rule set: {total:.1f} s over {run.claims_checked:,} settlements, {run.flags_raised:,} flags")
