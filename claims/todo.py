"""Claims' items on the workbench: monthly statements to approve and to pay."""

from django.utils.translation import gettext as _

from core.roles import Role, has_role
from core.todo import Todo, changelist, todo_source

from .models import ProviderStatement


@todo_source
def statement_todos(user):
    if not has_role(user, Role.FINANCE):
        return
    # Never one's own: who generated a statement does not approve it, who approved it does
    # not record its payment (Ziyang 第十九条: 会计 and 出纳 are separate duties).
    drafts = ProviderStatement.objects.filter(status="draft").exclude(generated_by=user)
    approved = ProviderStatement.objects.filter(status="approved").exclude(approved_by=user)
    yield Todo(_("Monthly statements to approve"), drafts.count(),
               changelist("claims_providerstatement", status__exact="draft"))
    yield Todo(_("Approved statements to pay"), approved.count(),
               changelist("claims_providerstatement", status__exact="approved"))
