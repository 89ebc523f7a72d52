from drf_spectacular.utils import extend_schema
from rest_framework.generics import RetrieveAPIView

from core.errors import NotFound

from .access import IsProviderUser, provider_of
from .serializers import ProviderOutput


@extend_schema(summary="The calling provider's own registry record", tags=["providers"])
class ProviderSelfView(RetrieveAPIView):
    permission_classes = [IsProviderUser]
    serializer_class = ProviderOutput

    def get_object(self):
        provider = provider_of(self.request.user)
        if provider is None:
            raise NotFound()
        return provider
