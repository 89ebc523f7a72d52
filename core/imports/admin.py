"""The admin's import (django-import-export) within the import limits, with clear errors.

`ImportMixin` and `ImportExportMixin` here are django-import-export's with these changes:

- the upload form refuses a file larger than IMPORT_MAX_BYTES from the upload's size, before
  django-import-export copies it into its temporary storage and reads it whole;
- the formats (core.imports.formats) name the uploaded file in their errors;
- the upload is copied into the temporary storage in one piece, not chunk by chunk;
- a file that cannot be read (core.imports.pipeline.ImportRefused: too many rows, not CSV text, not
  an .xlsx, empty...) shows its reason on the form instead of django-import-export's generic
  "<exception> encountered while trying to read file"; nothing is written;
- the pending file's identity stays on the server: the confirmation form carries a random token,
  the session maps it to the temporary file's name (for this user and this model, once), and
  a name sent by the browser is never used (a crafted one made the server read and delete a
  file outside the import folder).
"""

import os
import secrets

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from import_export import admin as import_export_admin
from import_export.forms import ImportForm

from core.imports.pipeline import ImportLimits, ImportRefused, RowError, check_size, upload_name

# The session key of the previews awaiting confirmation: {token: {"name", "model"}}.
PENDING_IMPORTS_KEY = "gongji_pending_imports"
MAX_PENDING_IMPORTS = 5


def _message(error: RowError) -> str:
    return str(error) if error.row else error.reason  # row 0 is the file itself


class LimitedImportForm(ImportForm):
    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        try:
            check_size(os.path.basename(upload.name), upload.size, ImportLimits.from_settings())
        except ImportRefused as refused:
            raise ValidationError([_message(e) for e in refused.errors]) from None
        return upload


class ImportLimitsMixin:
    import_form_class = LimitedImportForm

    def import_action(self, request, **kwargs):
        upload = request.FILES.get("import_file")
        token = upload_name.set(os.path.basename(upload.name) if upload else "")
        try:
            return super().import_action(request, **kwargs)
        finally:
            upload_name.reset(token)

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if initial.get("import_file_name"):
            # The browser receives a token; the temporary file's name stays in the session.
            pending = request.session.get(PENDING_IMPORTS_KEY, {})
            token = secrets.token_urlsafe(24)
            pending[token] = {"name": initial["import_file_name"], "model": self.model._meta.label_lower}
            # Only the latest few previews of a session can be confirmed.
            request.session[PENDING_IMPORTS_KEY] = dict(list(pending.items())[-MAX_PENDING_IMPORTS:])
            initial["import_file_name"] = token
        return initial

    def _pending_file_name(self, request) -> str | None:
        """The server-side name of the file the confirmation token names (used once)."""
        pending = request.session.get(PENDING_IMPORTS_KEY, {})
        entry = pending.pop(request.POST.get("import_file_name", ""), None)
        request.session[PENDING_IMPORTS_KEY] = pending
        if entry is None or entry.get("model") != self.model._meta.label_lower:
            return None
        return entry["name"]

    def process_import(self, request, **kwargs):
        if not self.has_import_permission(request):
            # Refused before the session's pending previews are read (and one consumed): a role
            # that may not import gets 403, as on the import page, not "upload it again".
            raise PermissionDenied
        name = self._pending_file_name(request) if request.method == "POST" else None
        opts = self.model._meta
        if name is None:
            messages.error(request, _("The file to import is no longer known (its preview expired or was already "
                                      "imported): upload it again."))
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_import",
                                                current_app=self.admin_site.name))
        post = request.POST.copy()
        post["import_file_name"] = name
        request.POST = post
        # The file was read at the preview within the same limits; refused now only if the
        # limits were lowered in between.
        token = upload_name.set(os.path.basename(request.POST.get("original_file_name", "")))
        try:
            return super().process_import(request, **kwargs)
        except ImportRefused as refused:
            for error in refused.errors:
                messages.error(request, _message(error))
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_import",
                                                current_app=self.admin_site.name))
        finally:
            upload_name.reset(token)

    def write_to_tmp_storage(self, import_file, input_format):
        # django-import-export's own concatenates the upload chunk by chunk, which is quadratic
        # (about ten seconds of CPU for a 50 MB file); this joins the chunks once.
        encoding = None if input_format.is_binary() else self.from_encoding
        tmp_storage = self.get_tmp_storage_class()(encoding=encoding, read_mode=input_format.get_read_mode(),
                                                   **self.get_tmp_storage_class_kwargs())
        tmp_storage.save(b"".join(import_file.chunks()))
        return tmp_storage

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, ImportRefused):
            for error in e.errors:
                form.add_error("import_file", _message(error))
            return
        super().add_data_read_fail_error_to_form(form, e)


class ImportMixin(ImportLimitsMixin, import_export_admin.ImportMixin):
    pass


class ImportExportMixin(ImportLimitsMixin, import_export_admin.ImportExportMixin):
    def export_action(self, request):
        # The export reads the changelist's filters from the address; an unknown or malformed
        # one answers as the changelist does (its "?e=1" error page), not a 500.
        from django.contrib.admin.options import IncorrectLookupParameters

        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist",
                                                current_app=self.admin_site.name) + "?e=1")
