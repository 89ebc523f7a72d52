"""Refusals before any view runs (Bad input never answers 5xx, README Security):

- a NUL byte in the path or the query string: 400 (a database refuses it in a string, a
  file system in a name; nothing downstream expects one);
- a body larger than API_MAX_BODY_BYTES under /api/ (its Content-Length): 413.

Under /api/ both answer in the one error shape (core.api), elsewhere as short Chinese text.
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _


def refusal(request, status: int, code: str, message: str, details=None):
    """The error shape under /api/, plain text elsewhere, in the caller's language (this may run
    before LocaleMiddleware chose it)."""
    language = translation.get_language_from_request(request) or settings.LANGUAGE_CODE
    with translation.override(language):
        text = str(message)
    if request.path.startswith("/api/"):
        return JsonResponse({"code": code, "message": text, "details": details or {}}, status=status)
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in query or "%00" in query:
            return refusal(request, 400, "bad_request", _("The address holds a character that is not allowed (NUL)."))
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return refusal(request, 400, "bad_request", _("The request's Content-Length is not a number."))
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:
                return refusal(request, 413, "request_too_large", _("The request body is larger than the API accepts (%(limit)s bytes).") % {"limit": limit},
                               {"limit": limit})
        return self.get_response(request)
