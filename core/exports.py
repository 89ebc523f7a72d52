"""Every export's cells go through here (admin CSV/XLSX via django-import-export, statements,
the portal's settlement export): a text value a spreadsheet would read as a formula (CSV/formula
injection, OWASP) is written as text.

A value starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with a single
quote. Numbers, dates and amounts stay what they are (a negative amount is a number, not text).
"""

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def safe_row(values) -> list:
    return [safe_cell(value) for value in values]


def safe_dataset(dataset) -> None:
    """A tablib Dataset, in place (django-import-export's formats)."""
    for _ in range(len(dataset)):
        dataset.append(safe_row(dataset.lpop()))


def refuse_formula_names(instance, *fields: str) -> None:
    """Model.clean() of a model whose name is typed by a person: a value that a spreadsheet
    would read as a formula is refused where it is entered (the admin, the portal), naming the
    field. Exports escape it anyway (safe_cell)."""
    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    errors = {
        field: _("Must not start with =, +, -, @, a tab or a line break (a spreadsheet would read it as a formula).")
        for field in fields
        if isinstance(getattr(instance, field, None), str) and getattr(instance, field).lstrip(" ").startswith(FORMULA_LEADS)
    }
    if errors:
        raise ValidationError(errors)
