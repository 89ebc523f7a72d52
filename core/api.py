"""The one error shape of the API: {"code", "message", "details"} with a 4xx status, or 503
`database_unavailable` (with Retry-After) while the database cannot be reached."""

import logging
import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError

logger = logging.getLogger("gongji.api")


# A lost or refused database connection, a statement or lock timeout, a deadlock: the request
# failed as a whole (its transaction rolled back) and the same request may be sent again.
# Django wraps the driver's errors in its own; the driver's are listed for any that escape.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
try:
    import psycopg

    DATABASE_UNAVAILABLE += (psycopg.OperationalError, psycopg.InterfaceError)
except ImportError:  # pragma: no cover - SQLite-only installs
    pass


# PostgreSQL's SQLSTATEs for "this request may simply be sent again": class 08 (connection
# exception) and these. Anything else with a SQLSTATE (a missing table, a value too long, a
# full disk...) is a defect or needs an operator: it stays a 500, logged with its traceback.
RETRYABLE_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (lock_timeout)
    "57014",  # query_canceled (statement_timeout)
    "57P01", "57P02", "57P03",  # admin_shutdown, crash_shutdown, cannot_connect_now
    "53300",  # too_many_connections
}


def is_database_unavailable(exc) -> bool:
    """The database could not be reached, or refused the request for a reason that sending it
    again may cure. A driver error without a SQLSTATE is the connection itself failing
    (refused, reset, closed by a restart); on SQLite only a lock or busy database is."""
    if not isinstance(exc, DATABASE_UNAVAILABLE):
        return False
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if type(cause).__module__.startswith("sqlite3"):
        return any(word in str(cause).lower() for word in ("locked", "busy"))
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in RETRYABLE_SQLSTATES
    return True


def _database_unavailable_body(request) -> tuple[dict, dict]:
    """The 503 answer. Its language is the caller's, read here: the failure may have come
    before LocaleMiddleware chose it."""
    seconds = int(settings.DATABASE_RETRY_AFTER_SECONDS)
    language = translation.get_language_from_request(request) if request is not None else None
    with translation.override(language or settings.LANGUAGE_CODE):
        message = str(_("The service cannot reach its database for a moment. Send the same request again "
                        "shortly: a transaction number (external_ref) that was already settled is not paid twice."))
    body = {"code": "database_unavailable", "message": message, "details": {"retry_after": seconds}}
    return body, {"Retry-After": str(seconds)}


def _log_database_unavailable(exc, request) -> None:
    first_line = (str(exc).strip().splitlines() or [""])[0]
    logger.warning(
        "database unavailable: %s: %s method=%s path=%s", type(exc).__name__, first_line[:200],
        getattr(request, "method", "?"), getattr(request, "path", "?"),
    )


def error_response(code: str, message, details=None, http_status=400) -> Response:
    return Response(
        {"code": code, "message": str(message), "details": details or {}}, status=http_status
    )


def flatten_errors(detail):
    """DRF's error details as plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {key: flatten_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [flatten_errors(value) for value in detail]
    return str(detail)


def exception_handler(exc, context):
    if is_database_unavailable(exc):
        _log_database_unavailable(exc, context.get("request"))
        body, headers = _database_unavailable_body(context.get("request"))
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)
    if isinstance(exc, DomainError):
        return error_response(exc.code, exc.message, exc.details, exc.status)
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return error_response("invalid", _("The request is not valid."), details, 400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        code, message = "invalid", _("The request is not valid.")
        details = flatten_errors(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details}
    else:
        codes = exc.get_codes() if hasattr(exc, "get_codes") else "error"
        code = codes if isinstance(codes, str) else "error"
        message = exc.detail if isinstance(exc.detail, str) else _("The request was refused.")
        details = {}
    if response.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
        request = context.get("request")
        logger.warning(
            "permission refused: user=%s path=%s code=%s",
            getattr(getattr(request, "user", None), "pk", None),
            getattr(request, "path", "?"),
            code,
        )
    response.data = {"code": code, "message": str(message), "details": details}
    return response


class ErrorOutput(serializers.Serializer):
    """The one error shape (CONTRACT.md): every 4xx answer of the API looks like this."""

    code = serializers.CharField(help_text="A stable machine-readable code, e.g. not_found.")
    message = serializers.CharField(help_text="What went wrong, in Chinese.")
    details = serializers.DictField(help_text="Field → problem, or facts about the refusal.")


# For @extend_schema(responses={200: ..., **ERROR_RESPONSES}) on read views.
ERROR_RESPONSES = {401: ErrorOutput, 403: ErrorOutput, 404: ErrorOutput}


def _wants_api_error(request) -> bool:
    return request.path.startswith("/api/")


def _api_error(request, code: str, message, status_code: int, details=None) -> JsonResponse:
    """The error shape for handlers that may run before LocaleMiddleware chose the language."""
    language = translation.get_language_from_request(request) or settings.LANGUAGE_CODE
    with translation.override(language):
        text = str(message)
    return JsonResponse({"code": code, "message": text, "details": details or {}}, status=status_code)


def not_found(request, exception=None):
    """handler404: an unknown API address answers in the error shape; the rest as Django does."""
    if _wants_api_error(request):
        return _api_error(request, "not_found", _lazy("Not found."), 404, {"path": request.path[:200]})
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    """handler400: a request Django itself refused (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too
    many fields, a bad Host, a broken multipart body). Under /api/ in the error shape: 413 for a
    body too large, 400 otherwise."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent

    if isinstance(exception, RequestDataTooBig):
        if _wants_api_error(request):
            return _api_error(request, "request_too_large", _lazy("The request body is larger than the API accepts."), 413)
        return HttpResponse(str(_("The request body is too large.")), status=413, content_type="text/plain; charset=utf-8")
    if _wants_api_error(request):
        code = "too_many_fields" if isinstance(exception, TooManyFieldsSent) else "bad_request"
        return _api_error(request, code, _lazy("The request is not valid."), 400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    """handler403: under /api/ in the error shape; the rest as Django does."""
    if _wants_api_error(request):
        return _api_error(request, "permission_denied", _lazy("You may not do this."), 403)
    return defaults.permission_denied(request, exception)


def server_error(request):
    """handler500: a defect, still in the error shape for API callers (nothing more is said).

    The one exception that is not a defect: the database was unreachable outside a DRF view
    (in a middleware, a plain Django view). That answers 503 with Retry-After instead."""
    exc = sys.exc_info()[1]
    if is_database_unavailable(exc):
        _log_database_unavailable(exc, request)
        body, headers = _database_unavailable_body(request)
        if _wants_api_error(request):
            response = JsonResponse(body, status=503)
        else:
            response = HttpResponse(body["message"], status=503, content_type="text/plain; charset=utf-8")
        for name, value in headers.items():
            response[name] = value
        return response
    if _wants_api_error(request):
        return _api_error(request, "server_error", _lazy("Internal error; it has been logged."), 500)
    return defaults.server_error(request)
