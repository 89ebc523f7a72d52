"""django-import-export resources that import through core.imports.pipeline, so that the admin
(with its preview) and the commands validate identically: same row parsers, same
whole-file refusal, same bulk writes. Exports use the same English column keys, so an
exported file imports back unchanged."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.html import escape
from import_export import resources
from import_export.exceptions import ImportError as ImportExportError
from import_export.results import Result, RowResult

from core.imports.pipeline import (
    CREATED,
    UNCHANGED,
    UPDATED,
    Importer,
    normalise_header,
    run_import,
    table_from_dataset,
)

IMPORT_TYPES = {CREATED: RowResult.IMPORT_TYPE_NEW, UPDATED: RowResult.IMPORT_TYPE_UPDATE,
                UNCHANGED: RowResult.IMPORT_TYPE_SKIP}


class ImporterResource(resources.ModelResource):
    """A ModelResource whose import runs a core.imports.pipeline Importer over the whole dataset."""

    importer_class: type[Importer] = Importer

    def column_label(self, header: str) -> str:
        """A column as the case worker reads it: a header written in Chinese as written (it is
        what the file shows), an English key or alias as the column's Chinese label with the
        header after it (身份证号 (id_number)); a header the import does not know, as written."""
        if not header or not header.isascii():
            return header
        wanted = normalise_header(header)
        for column in self.importer_class.columns:
            if wanted in {normalise_header(spelling) for spelling in (column.key, column.label, *column.aliases)}:
                return header if column.label == header else f"{column.label} ({header})"
        return header

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, rollback_on_validation_errors=False, **kwargs):
        file_name = kwargs.get("file_name") or ""
        importer = self.importer_class(user=kwargs.get("user"),
                                       change_reason=f"admin import_{self.importer_class.kind} {file_name}".strip())
        importer.keep_instances = True
        outcome = run_import(importer, table_from_dataset(dataset), dry_run=dry_run, keep_rows=True)

        result = Result()
        headers = [str(h) if h is not None else "" for h in (dataset.headers or [])]
        result.diff_headers = headers  # append_invalid_row reads the cells by these
        result.total_rows = len(dataset)
        if collect_failed_rows:
            result.add_dataset_headers(headers)

        def cells_of(number: int) -> dict:
            index = number - 2
            if 0 <= index < len(dataset):
                return dict(zip(headers, dataset[index], strict=False))
            return {}

        if outcome.errors:
            by_row: dict[int, dict[str, list[str]]] = {}
            for error in outcome.errors:
                column = self.column_label(error.column) if error.column else NON_FIELD_ERRORS
                by_row.setdefault(error.row, {}).setdefault(column, []).append(error.reason)
            for number, messages in sorted(by_row.items()):
                result.append_invalid_row(number, cells_of(number), ValidationError(messages))
                result.totals[RowResult.IMPORT_TYPE_INVALID] += 1
                if collect_failed_rows:
                    result.append_failed_row(cells_of(number), ValidationError(messages))
            if raise_errors:
                first = outcome.errors[0]
                raise ImportExportError(str(first), number=first.row, row=cells_of(first.row))
            result.diff_headers = [self.column_label(h) for h in headers]  # as the page shows them
            return result

        for row in outcome.rows:
            row_result = RowResult()
            row_result.import_type = IMPORT_TYPES[row.action]
            cells = cells_of(row.number)
            row_result.row_values = cells
            row_result.diff = [escape("" if cells.get(h) is None else str(cells.get(h))) for h in headers]
            instance = row.instance if getattr(row.instance, "pk", None) is not None else None
            row_result.instance = instance
            row_result.add_instance_info(instance)
            if instance is None and row_result.import_type != RowResult.IMPORT_TYPE_SKIP:
                row_result.import_type = RowResult.IMPORT_TYPE_SKIP  # nothing to log against
            result.append_row_result(row_result)
            result.increment_row_result_total(row_result)
        result.diff_headers = [self.column_label(h) for h in headers]  # as the page shows them
        return result
