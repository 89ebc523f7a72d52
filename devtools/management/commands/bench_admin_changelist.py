"""Benchmark: the member changelist over a million members (PostgreSQL).

Loads N generated members with COPY (unless the table already holds that many), runs
ANALYZE as autovacuum would, then opens the admin's member list the way a case worker
does and prints, per page, the time and the number and kind of queries. Members it
created are removed at the end unless --keep.
"""

import io
import time
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, setup_test_environment
from django.utils import timezone

from core.idnumber import make_id_number
from devtools.guard import require_bench_database
from members.models import Member

BENCH_PREFIX = "379901"  # an unused region code: the generated members are easy to find and remove


def generated_id_numbers(count: int):
    """count distinct valid ID numbers: 1000 sequence numbers per birth date from 1950."""
    day, produced = date(1950, 1, 1), 0
    while produced < count:
        for sequence in range(min(1000, count - produced)):
            yield make_id_number(BENCH_PREFIX, day, sequence), day, "M" if sequence % 2 else "F"
            produced += 1
        day += timedelta(days=1)


class Command(BaseCommand):
    help = "Time the admin member changelist over N members on PostgreSQL (default 1,000,000)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=1_000_000)
        parser.add_argument("--keep", action="store_true", help="keep the generated members")

    def handle(self, *args, members, keep, **options):
        require_bench_database()
        if connection.vendor != "postgresql":
            raise CommandError("run it on PostgreSQL: set DATABASE_URL")
        created = self._load(members)
        try:
            self._measure()
        finally:
            if created and not keep:
                with connection.cursor() as cursor:
                    cursor.execute("DELETE FROM members_member WHERE id_number LIKE %s", [BENCH_PREFIX + "%"])
                    cursor.execute("ANALYZE members_member")
                self.stdout.write(f"removed the {created:,} generated members")

    def _load(self, wanted: int) -> int:
        existing = Member.objects.count()
        missing = max(0, wanted - existing)
        if missing:
            started = time.perf_counter()
            now = timezone.now().isoformat()
            buffer = io.StringIO()
            for index, (id_number, born, sex) in enumerate(generated_id_numbers(missing)):
                buffer.write(f"{id_number}\t测试{index}\t{sex}\t{born.isoformat()}\t\tactive\t{now}\t{now}\n")
            with connection.cursor() as cursor:
                with cursor.copy(
                    "COPY members_member (id_number, name, sex, birth_date, phone, status, created_at, updated_at)"
                    " FROM STDIN"
                ) as copy:
                    copy.write(buffer.getvalue())
            self.stdout.write(f"loaded {missing:,} members in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE members_member")
        self.stdout.write(f"members in the table: {Member.objects.count():,} (one exact count, for this report)")
        return missing

    def _measure(self):
        User = get_user_model()
        user, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
        setup_test_environment()  # lets the client hand back the page's context (the changelist)
        client = Client()
        client.force_login(user)
        some = Member.objects.order_by("pk").values_list("id_number", flat=True)[:1][0]
        middle = max(1, min(5_000, Member.objects.count() // 100 // 2))
        pages = [
            ("first page", "/admin/members/member/"),
            (f"page {middle:,}", f"/admin/members/member/?p={middle}"),
            ("filter status=active", "/admin/members/member/?status__exact=active"),
            ("search full ID number", f"/admin/members/member/?q={some}"),
            ("search ID number prefix", f"/admin/members/member/?q={some[:14]}"),
        ]
        self.stdout.write(f"{'page':<26}{'ms':>8}{'db ms':>8}{'queries':>9}  count")
        for label, url in pages:
            client.get(url)  # warm the cache the way a second visit would
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")
            changelist = response.context["cl"]
            counted = any(q["sql"].startswith("SELECT COUNT(") for q in queries.captured_queries)
            how = "estimated" if changelist.paginator.count_is_estimate else ("COUNT(*)" if counted else "exact")
            database = sum(float(q["time"]) for q in queries.captured_queries) * 1000
            self.stdout.write(
                f"{label:<26}{elapsed:>8.0f}{database:>8.0f}{len(queries):>9}  {changelist.result_count:,} ({how})"
            )
        user.delete()
