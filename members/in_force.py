"""The enrollment in force on a day: one definition, in the ORM and in the two SQL shapes the hot
paths use.

The spell in force on `day` is the latest spell that started on or before it (`effective_from <=
day`; spells have no end: the next spell ends the previous one, and a member's spells start on
different days, `enrollment_one_per_day`). Ties cannot happen; `pk` breaks them anyway, the
same way everywhere. A retirement is a spell that starts on its day.

- `EnrollmentQuerySet.in_force_on(day)`: the ORM (the member pages, the benefits endpoint,
  `Member.enrollment_on`);
- `spell_in_force_id_sql(member_column)`: a scalar subquery, one member (the settlement's fixed
  SQL, `claims.settlement_queries`);
- `spells_in_force_sql(range_condition)`: a derived table of every member's spell, set-based (the
  monthly credit run, `members.account_credit_sql`).

`tests/members/test_enrollment_in_force.py` runs both SQL shapes against the ORM on the same
generated spells (start day, the day before, retirement day, open end, several spells).
"""

from django.db import models
from django.db.models import OuterRef, Subquery


def _table() -> str:
    from .models import Enrollment

    return Enrollment._meta.db_table


class EnrollmentQuerySet(models.QuerySet):
    def in_force_on(self, day):
        """Each member's spell in force on `day` (at most one per member)."""
        latest = self.model.objects.filter(member=OuterRef("member"), effective_from__lte=day).order_by(
            "-effective_from", "-pk").values("pk")[:1]
        return self.filter(effective_from__lte=day, pk=Subquery(latest))

    def latest_first(self):
        return self.order_by("-effective_from", "-pk")


def spell_in_force_id_sql(member_column: str) -> str:
    """The id of the spell in force for the member `member_column`; one parameter: the day."""
    return (f'SELECT e2."id" FROM {_table()} e2 WHERE e2."member_id" = {member_column}'
            ' AND e2."effective_from" <= %s ORDER BY e2."effective_from" DESC, e2."id" DESC LIMIT 1')


def spells_in_force_sql(range_condition: str = "1 = 1") -> str:
    """Every member's spell in force as a derived table (its columns, one row per member);
    parameters: the day, then those of `range_condition` (on alias `s`)."""
    return (f"(SELECT r.* FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.member_id"
            f" ORDER BY s.effective_from DESC, s.id DESC) AS latest FROM {_table()} s"
            f" WHERE s.effective_from <= %s AND {range_condition}) r WHERE r.latest = 1)")
