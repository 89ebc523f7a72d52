"""Members' items on the workbench: account decisions waiting for a second case worker."""

from django.utils.translation import gettext as _

from core.roles import Role, has_role
from core.todo import Todo, changelist, todo_source

from .models import AccountDecision


@todo_source
def member_todos(user):
    if has_role(user, Role.CASE_WORKER):
        # Proposed by someone else: the proposer never approves their own (Ziyang 第十九条).
        waiting = AccountDecision.objects.filter(status=AccountDecision.Status.PROPOSED).exclude(proposed_by=user)
        yield Todo(_("Account withdrawals and transfers to approve"), waiting.count(),
                   changelist("members_accountdecision", status__exact="proposed"))
