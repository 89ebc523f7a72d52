from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERROR_RESPONSES
from core.audit import audit
from core.errors import NotFound
from core.idnumber import mask_id_number, normalize_id_number
from pharmacies.access import IsProviderOrAgencyStaff

from .models import Member
from .serializers import MemberOutput


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
        audit(actor=request.user, action="member.read", target=member, label=mask_id_number(id_number))
        if member is None:
            raise NotFound(details={"id_number": mask_id_number(id_number)})
        enrollment = member.enrollment_on(timezone.localdate())
        return Response(MemberOutput(member, context={"enrollment": enrollment}).data)
