"""Admin paging over tables with millions of rows, without counting them on every page."""

import json

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


class LargeTablePaginator(Paginator):
    """A paginator that never runs COUNT(*) over a big table on PostgreSQL.

    - An unfiltered list reads the planner's row estimate (`pg_class.reltuples`, kept
      current by autovacuum's ANALYZE) and counts exactly only when the estimate says
      the table is small. Both happen in ONE query: the exact count is an InitPlan that
      PostgreSQL runs only when the CASE needs it, so the number of queries a changelist
      runs never depends on the table's size.
    - A filtered or searched list asks the planner (EXPLAIN) how many rows the filter
      keeps; when that is many ("status = active" over a million members), it shows the
      estimate, else it counts exactly (a search by ID number or name: a handful of rows).
    - On SQLite, the development database, every list is counted exactly.

    `count_is_estimate` tells the template to say "about".
    """

    # Below this many (estimated) rows an exact count is cheap, and exact is nicer to read.
    estimate_from = 100_000

    count_is_estimate = False

    @cached_property
    def count(self):
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and connections[queryset.db].vendor == "postgresql":
            connection = connections[queryset.db]
            if self._is_whole_table(queryset):
                return self._estimate_or_count_table(queryset, connection)
            if self._can_explain(queryset):
                estimate = self._planner_estimate(queryset, connection)
                if estimate >= self.estimate_from:
                    self.count_is_estimate = True
                    return estimate
        return super().count

    @staticmethod
    def _can_explain(queryset) -> bool:
        query = queryset.query
        return not query.combinator and query.low_mark == 0 and query.high_mark is None

    @classmethod
    def _is_whole_table(cls, queryset) -> bool:
        query = queryset.query
        return cls._can_explain(queryset) and not query.where and not query.distinct and not query.group_by

    def _estimate_or_count_table(self, queryset, connection) -> int:
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        # reltuples is -1 for a table never analysed (PostgreSQL 14+): counted exactly then.
        sql = (
            "SELECT CASE WHEN c.reltuples >= %s THEN c.reltuples::bigint "
            f"ELSE (SELECT COUNT(*) FROM {table}) END, c.reltuples >= %s "
            "FROM pg_class c WHERE c.oid = %s::regclass"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.estimate_from, self.estimate_from, table])
            count, estimated = cursor.fetchone()
        self.count_is_estimate = bool(estimated)
        return int(count)

    @staticmethod
    def _planner_estimate(queryset, connection) -> int:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
