"""The one error shape of the API: {"code", "message", "details"} with a 4xx status."""

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError

logger = logging.getLogger("gongji.api")


def error_response(code: str, message, details=None, http_status=400) -> Response:
    return Response(
        {"code": code, "message": str(message), "details": details or {}}, status=http_status
    )


def _flatten(detail):
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(value) for value in detail]
    return str(detail)


def exception_handler(exc, context):
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
        details = _flatten(exc.detail)
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


def not_found(request, exception=None):
    """handler404: an unknown API address answers in the error shape; the rest as Django does."""
    if _wants_api_error(request):
        return JsonResponse(
            {"code": "not_found", "message": str(_("Not found.")), "details": {"path": request.path}},
            status=404,
        )
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: a defect, still in the error shape for API callers (nothing more is said)."""
    if _wants_api_error(request):
        return JsonResponse(
            {"code": "server_error", "message": str(_("Internal error; it has been logged.")), "details": {}},
            status=500,
        )
    return defaults.server_error(request)
