"""The few pages of members that are not admin: the printable yearly account statement."""

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from core.audit import audit
from core.audit_actions import AuditAction
from core.params import YEAR_MAX, YEAR_MIN
from core.roles import STAFF_ROLES, has_role

from .models import PersonalAccount
from .statements import account_statement


@staff_member_required
def account_statement_view(request, member_pk: int, year: int):
    if not any(has_role(request.user, role) for role in STAFF_ROLES):
        raise PermissionDenied
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise Http404
    account = get_object_or_404(PersonalAccount.objects.select_related("member"), member_id=member_pk)
    statement = account_statement(account, year)
    audit(actor=request.user, action=AuditAction.ACCOUNT_STATEMENT_READ, target=account, year=year)
    return render(request, "members/account_statement.html", {"statement": statement, "member": account.member})
