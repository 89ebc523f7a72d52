"""Domain errors raised by services and calculators; the API renders them in the one error shape."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A refusal with a stable code, a Chinese message and details naming the field or item."""

    code = "invalid"
    status = 400
    default_message = _("The request was refused.")

    def __init__(self, message=None, *, code=None, details=None, status=None):
        self.message = message or self.default_message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}
        super().__init__(str(self.message))


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = _("Conflicts with the current state.")


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    default_message = _("You may not do this.")


class DutyConflict(Forbidden):
    """Separated duties (不相容岗位分离): the proposer is never the approver."""

    code = "separated_duties"
    default_message = _("The person who proposed this may not also approve it.")


# The most characters of a value a message repeats (issue 11: an error echoed a cell of megabytes).
ECHO_CHARS = 100


def echo(value, limit: int = ECHO_CHARS) -> str:
    """A value as an error message shows it: at most `limit` characters, then "…"."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
