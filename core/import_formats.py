"""django-import-export formats for the admin's import page.

`DetectingCSV` reads the upload as bytes and decodes UTF-8 (with or without BOM) or GBK/GB18030
itself, as the commands do (core.importing.decode_csv_bytes): Chinese Excel saves CSV in GBK,
and the stock CSV format would decode it with one fixed encoding."""

import tablib
from import_export.formats.base_formats import CSV, XLSX


class DetectingCSV(CSV):
    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        from core.importing import decode_csv_bytes

        if isinstance(in_stream, bytes):
            in_stream = decode_csv_bytes(in_stream)
        return tablib.import_set(in_stream, format="csv", **kwargs)


IMPORT_FORMATS = [DetectingCSV, XLSX]
