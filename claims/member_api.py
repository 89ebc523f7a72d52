"""Providers' and staff's reads of a member's registry record and personal account (API v1).

In claims, not members: who may read (a provider's user or the agency's staff) is known to
pharmacies, and members imports neither (README "Layout")."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERROR_RESPONSES
from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import NotFound
from core.idnumber import mask_id_number, normalize_id_number
from core.params import year_param
from members.models import Member, PersonalAccount
from members.serializers import AccountOutput, MemberOutput
from pharmacies.access import IsProviderOrAgencyStaff, staff_link


@extend_schema(
    summary="A member's registry record and current enrollment", tags=["members"],
    responses={200: MemberOutput, **ERROR_RESPONSES},
)
class MemberDetailView(APIView):
    permission_classes = [IsProviderOrAgencyStaff]

    def get(self, request, id_number: str):
        id_number = normalize_id_number(id_number)
        member = Member.objects.filter(id_number=id_number).first()
        # Every read of a member by a provider or staff is logged with who asked.
        audit(actor=request.user, action=AuditAction.MEMBER_READ, target=member, label=mask_id_number(id_number))
        if member is None:
            raise NotFound(details={"id_number": mask_id_number(id_number)})
        enrollment = member.enrollment_on(timezone.localdate())
        return Response(MemberOutput(member, context={"enrollment": enrollment}).data)


@extend_schema(
    summary="A member's personal account: balance and entries (the latest 100, or one year's)",
    description="For a provider's caller every entry's reference and memo are empty: they name "
                "other providers' transactions and the agency's notes.",
    tags=["members"], responses=AccountOutput,
    parameters=[OpenApiParameter("year", int, description="only the entries posted in this year")],
)
class MemberAccountView(APIView):
    permission_classes = [IsProviderOrAgencyStaff]

    def get(self, request, id_number: str):
        year = year_param(request.query_params.get("year"))
        id_number = normalize_id_number(id_number)
        account = PersonalAccount.objects.select_related("member").filter(member__id_number=id_number).first()
        # Every read of an account by a provider or staff is logged with who asked.
        audit(actor=request.user, action=AuditAction.ACCOUNT_READ, target=account, label=mask_id_number(id_number))
        if account is None:
            raise NotFound(_("The member has no personal account."), code="no_account",
                           details={"id_number": mask_id_number(id_number)})
        entries = account.entries.order_by("-pk")
        if year:
            entries = entries.filter(created_at__year=year)
        else:
            entries = entries[:100]
        data = {
            "id_number": mask_id_number(id_number), "status": account.status, "balance": account.balance,
            "opened_on": account.opened_on, "closed_on": account.closed_on, "entries": list(entries),
        }
        return Response(AccountOutput(data, context={"for_provider": staff_link(request.user) is not None}).data)
