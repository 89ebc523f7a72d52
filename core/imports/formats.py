"""django-import-export formats for the admin's import page.

Both read the upload through core.imports.pipeline, as the commands do, within the same limits
(IMPORT_MAX_BYTES, IMPORT_MAX_ROWS): `DetectingCSV` decodes UTF-8 (with or without BOM),
UTF-16 with a BOM or GBK/GB18030 itself (Chinese Excel saves CSV in GBK, and the stock CSV
format would decode it with one fixed encoding); `StreamingXLSX` checks the zip's declared
sizes before openpyxl opens it, streams the first sheet and keeps formulas as text so that the
parsers refuse them (the stock format reads cached values instead). A file that cannot be
read raises core.imports.pipeline.ImportRefused, which core.imports.admin shows on the form."""

import io

from import_export.formats.base_formats import CSV, XLSX


class DetectingCSV(CSV):
    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        from core.imports.pipeline import (
            ImportLimits,
            check_size,
            csv_table,
            dataset_from_table,
            decode_csv_bytes,
        )

        limits = ImportLimits.from_settings()
        if isinstance(in_stream, str):
            in_stream = in_stream.encode("utf-8")
        check_size("", len(in_stream), limits)
        return dataset_from_table(csv_table(decode_csv_bytes(in_stream), limits=limits))


class StreamingXLSX(XLSX):
    def create_dataset(self, in_stream):
        from core.imports.pipeline import ImportLimits, check_size, dataset_from_table, xlsx_table

        limits = ImportLimits.from_settings()
        check_size("", len(in_stream), limits)
        return dataset_from_table(xlsx_table(io.BytesIO(in_stream), limits=limits))


IMPORT_FORMATS = [DetectingCSV, StreamingXLSX]


class SafeCSV(CSV):
    """The admin's CSV export: formula-leading text escaped with core.exports (the stock
    escaping drops a leading "=" only and turns every cell into text)."""

    def _escape_formulae(self, dataset):
        from core.exports import safe_dataset

        safe_dataset(dataset)


class SafeXLSX(XLSX):
    """The admin's XLSX export, escaped as SafeCSV."""

    def _escape_formulae(self, dataset):
        from core.exports import safe_dataset

        safe_dataset(dataset)


EXPORT_FORMATS = [SafeCSV, SafeXLSX]
