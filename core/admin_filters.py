"""List filters shared by the admin: a date range typed as two dates."""

from datetime import date

from django.contrib import admin
from django.utils.translation import gettext_lazy as _


def _parse(value) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None  # a bad date is ignored (shown as empty), never a server error


class DateRangeFilter(admin.FieldListFilter):
    """From / to (inclusive) on a date field, e.g. ``("visit_date", DateRangeFilter)``.

    The parameters are ``<field>__gte`` and ``<field>__lte`` in ISO form, so a filtered list
    is a link a case worker can send to a colleague.
    """

    template = "admin/filters/date_range.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_gte = f"{field_path}__gte"
        self.lookup_lte = f"{field_path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.date_from = _parse(self._value(self.lookup_gte))
        self.date_to = _parse(self._value(self.lookup_lte))
        self.title = getattr(field, "verbose_name", field_path)

    def _value(self, name):
        value = self.used_parameters.get(name)
        return value[-1] if isinstance(value, list) else value

    def expected_parameters(self):
        return [self.lookup_gte, self.lookup_lte]

    def queryset(self, request, queryset):
        if self.date_from:
            queryset = queryset.filter(**{self.lookup_gte: self.date_from})
        if self.date_to:
            queryset = queryset.filter(**{self.lookup_lte: self.date_to})
        return queryset

    def has_output(self):
        return True

    def choices(self, changelist):
        # The template draws the two inputs (the other filters and the search ride along as
        # hidden fields); one "all" link clears the range.
        kept = {key: value for key, value in changelist.get_filters_params().items()
                if key not in (self.lookup_gte, self.lookup_lte)}
        if changelist.query:
            kept["q"] = changelist.query
        self.kept_params = [(key, value if isinstance(value, list) else [value]) for key, value in kept.items()]
        yield {
            "selected": not (self.date_from or self.date_to),
            "query_string": changelist.get_query_string(remove=[self.lookup_gte, self.lookup_lte]),
            "display": _("All"),
        }
