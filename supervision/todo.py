"""Supervision's items on the workbench: flags at each step, for the auditor who may take it."""

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.roles import Role, has_role
from core.todo import Todo, changelist, todo_source

from .models import Flag


@todo_source
def supervision_todos(user):
    if has_role(user, Role.AUDITOR):
        yield Todo(_("Flags waiting for a first review"), Flag.objects.filter(status=Flag.Status.NEW).count(),
                   changelist("supervision_flag", status__exact="new"))
        # The second review and the appeal are decided by someone other than the first reviewer.
        yield Todo(_("Flags waiting for a second review"),
                   Flag.objects.filter(status=Flag.Status.FIRST_REVIEWED).exclude(first_reviewer=user).count(),
                   changelist("supervision_flag", status__exact="first_reviewed"))
        yield Todo(_("Appeals to decide"),
                   Flag.objects.filter(status=Flag.Status.APPEALED).exclude(first_reviewer=user).count(),
                   changelist("supervision_flag", status__exact="appealed"), warning=True)
        # The deduction is the auditors' step too (supervision.services.flag_deduct).
        today = timezone.localdate()
        ready = Flag.objects.filter(status=Flag.Status.CONFIRMED, confirmed_amount__gt=0).filter(
            Q(appeal_decided_by__isnull=False) | Q(appeal_deadline__lt=today)
        )
        yield Todo(_("Confirmed flags ready to deduct"), ready.count(),
                   changelist("supervision_flag", status__exact="confirmed"))
