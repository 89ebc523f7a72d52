"""Admin paging over tables with millions of rows, without counting them on every page."""

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


class LargeTablePaginator(Paginator):
    """A paginator that never runs COUNT(*) over a big unfiltered table.

    On PostgreSQL, an unfiltered list reads the planner's row estimate
    (`pg_class.reltuples`, kept current by autovacuum's ANALYZE) and only counts
    exactly when the estimate says the table is small. Both happen in ONE query:
    the exact count is an InitPlan that PostgreSQL evaluates only when the CASE
    needs it, so the number of queries a changelist runs never depends on the
    table's size. A filtered or searched list is counted exactly (the filter
    bounds the work); so is every list on SQLite, the development database.
    """

    # Below this many (estimated) rows an exact count is cheap, and exact is nicer to read.
    estimate_from = 100_000

    count_is_estimate = False

    @cached_property
    def count(self):
        queryset = self.object_list
        if self._is_whole_table(queryset):
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                return self._estimate_or_count(queryset, connection)
        return super().count

    @staticmethod
    def _is_whole_table(queryset) -> bool:
        if not isinstance(queryset, QuerySet):
            return False
        query = queryset.query
        return (
            not query.where
            and not query.distinct
            and not query.combinator
            and query.low_mark == 0
            and query.high_mark is None
            and not query.group_by
        )

    def _estimate_or_count(self, queryset, connection) -> int:
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
