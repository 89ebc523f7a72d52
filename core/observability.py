"""Request ids, structured logs and identity-number masking in every log line."""

import json
import logging
import re
import threading
import time
import uuid

from .idnumber import mask_id_number

_local = threading.local()
# 18-character resident ID numbers anywhere in a log message.
ID_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"

security_logger = logging.getLogger("gongji.security")
request_logger = logging.getLogger("gongji.request")


def current_request_id() -> str:
    return getattr(_local, "request_id", "-")


def mask_text(text: str) -> str:
    return ID_NUMBER_RE.sub(lambda match: mask_id_number(match.group(1)), text)


class MaskIdNumbersFilter(logging.Filter):
    """Identity numbers are never written to logs in full."""

    def filter(self, record):
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        record.request_id = current_request_id()
        return True


class MaskingFormatter(logging.Formatter):
    """Masks identity numbers in the whole formatted line (message, arguments, traceback),
    around another formatter or as a plain one: the last step before a line is written."""

    def __init__(self, *args, inner: logging.Formatter | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.inner = inner

    def format(self, record):
        return mask_text(self.inner.format(record) if self.inner is not None else super().format(record))


def mask_handlers(logger: logging.Logger) -> None:
    """Every handler of `logger` masks identity numbers (for loggers configured outside Django's
    LOGGING: Celery's worker and task loggers, gunicorn's error and access logs)."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, MaskingFormatter):
            handler.setFormatter(MaskingFormatter(inner=handler.formatter or logging.Formatter()))


class JsonFormatter(logging.Formatter):
    def format(self, record):
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", current_request_id()),
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return mask_text(json.dumps(payload, ensure_ascii=False))


class RequestIdMiddleware:
    """Gives every request an id (the caller's X-Request-ID if sane), echoes it in the
    response, logs the request line and every permission refusal."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get(REQUEST_ID_HEADER, "")
        request_id = incoming if re.fullmatch(r"[A-Za-z0-9\-_.]{8,64}", incoming or "") else uuid.uuid4().hex
        _local.request_id = request.request_id = request_id
        started = time.monotonic()
        try:
            response = self.get_response(request)
        finally:
            _local.request_id = "-"
        response["X-Request-ID"] = request_id
        elapsed_ms = (time.monotonic() - started) * 1000
        user = getattr(request, "user", None)
        user_id = user.pk if getattr(user, "is_authenticated", False) else None
        _local.request_id = request_id
        try:
            if response.status_code in (401, 403):
                security_logger.warning(
                    "permission refused status=%s method=%s path=%s user=%s",
                    response.status_code, request.method, mask_text(request.path), user_id,
                )
            request_logger.info(
                "%s %s %s %.1fms user=%s",
                request.method, mask_text(request.path), response.status_code, elapsed_ms, user_id,
            )
        finally:
            _local.request_id = "-"
        return response


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover - gunicorn is a production dependency
    _GunicornLogger = None

if _GunicornLogger is not None:

    class MaskingGunicornLogger(_GunicornLogger):
        """gunicorn's logger (config/gunicorn.py logger_class), masking identity numbers in the
        access log's request line and in every error-log line."""

        def setup(self, cfg):
            super().setup(cfg)
            mask_handlers(self.error_log)
            mask_handlers(self.access_log)
