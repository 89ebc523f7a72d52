"""Providers' items on the workbench: applications waiting for review or a decision."""

from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from core.roles import Role, has_role
from core.todo import Todo, changelist, todo_source

from .models import Agreement, Application

WAITING = {
    Application.Status.SUBMITTED: _("Applications submitted, waiting for review"),
    Application.Status.UNDER_REVIEW: _("Applications under review, waiting for a decision"),
}


@todo_source
def provider_todos(user):
    if not has_role(user, Role.CASE_WORKER):
        return
    counts = dict(
        Application.objects.filter(status__in=list(WAITING)).order_by()
        .values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    for status, label in WAITING.items():
        yield Todo(str(label), counts.get(status, 0), changelist("pharmacies_application", status__exact=status.value))


@todo_source
def agreement_todos(user):
    """Case workers: agreements in force ending within the warning window, not yet renewed."""
    if not has_role(user, Role.CASE_WORKER):
        return
    from .services import agreements_expiring

    yield Todo(str(_("Agreements about to expire, not yet renewed")), agreements_expiring().count(),
               changelist("pharmacies_agreement", status__in=",".join([Agreement.Status.ACTIVE, Agreement.Status.SUSPENDED])),
               warning=True)
