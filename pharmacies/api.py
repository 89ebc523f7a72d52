from drf_spectacular.utils import extend_schema
from rest_framework.generics import RetrieveAPIView

from core.api import ERROR_RESPONSES
from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import NotFound

from .access import IsAgencyStaff, IsProviderUser, provider_of
from .models import Provider
from .serializers import ProviderOutput


@extend_schema(summary="The calling provider's own registry record", tags=["providers"],
               responses={200: ProviderOutput, **ERROR_RESPONSES})
class ProviderSelfView(RetrieveAPIView):
    permission_classes = [IsProviderUser]
    allow_inactive_provider = True
    serializer_class = ProviderOutput

    def get_object(self):
        provider = provider_of(self.request.user)
        if provider is None:  # the cross-region platform has no registry record
            raise NotFound()
        audit(actor=self.request.user, action=AuditAction.PROVIDER_READ, target=provider)
        return provider


@extend_schema(summary="A provider's registry record, by national code (agency staff only)",
               tags=["providers"], responses={200: ProviderOutput, **ERROR_RESPONSES})
class ProviderDetailView(RetrieveAPIView):
    permission_classes = [IsAgencyStaff]
    serializer_class = ProviderOutput

    def get_object(self):
        code = self.kwargs["code"].strip().upper()
        provider = Provider.objects.select_related("parent").filter(code=code).first()
        audit(actor=self.request.user, action=AuditAction.PROVIDER_READ, target=provider, label=code)
        if provider is None:
            raise NotFound(details={"code": code})
        return provider
