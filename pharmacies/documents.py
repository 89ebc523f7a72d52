"""Checks on uploaded application documents: what the file really is, and how big.

The browser's Content-Type header and the file name are the client's word; the type is
decided from the file's first bytes, and the extension must agree with it.
"""

from pathlib import PurePath

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

# content type → (magic prefix, accepted extensions)
ACCEPTED_TYPES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "application/pdf": (b"%PDF-", (".pdf",)),
    "image/jpeg": (b"\xff\xd8\xff", (".jpg", ".jpeg")),
    "image/png": (b"\x89PNG\r\n\x1a\n", (".png",)),
}
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


def max_document_bytes() -> int:
    return int(getattr(settings, "PHARMACIES_DOCUMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


class DocumentRefused(DomainError):
    code = "document_refused"
    default_message = _("The document was refused.")


def inspect_upload(upload) -> str:
    """Return the sniffed content type of an uploaded file, or raise DocumentRefused."""
    size = upload.size
    limit = max_document_bytes()
    if not size:
        raise DocumentRefused(_("The file is empty."), code="document_empty")
    if size > limit:
        raise DocumentRefused(
            _("The file is too large: at most %(limit)s MB.")
            % {"limit": limit // (1024 * 1024) or 1},
            code="document_too_large",
            details={"size": size, "limit": limit},
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    extension = PurePath(upload.name or "").suffix.lower()
    for content_type, (magic, extensions) in ACCEPTED_TYPES.items():
        if head.startswith(magic):
            if extension not in extensions:
                break
            return content_type
    raise DocumentRefused(
        _("Only PDF, JPEG and PNG files are accepted, and the file name must match its content."),
        code="document_type",
        details={"accepted": sorted(ACCEPTED_TYPES)},
    )


class DocumentStorage(FileSystemStorage):
    """Application documents live under MEDIA_ROOT but are never served from MEDIA_URL.

    Their URL is the admin's permission-checked download view; the portal serves a
    provider's own documents through its own view.
    """

    def url(self, name):
        return reverse("admin:pharmacies_application_document", args=[name])


def document_storage():
    return DocumentStorage()
