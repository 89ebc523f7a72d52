"""The API's pagination: DRF's limit/offset, bounded (an offset of 30 digits overflowed the
database's integers: a 500)."""

from rest_framework.pagination import LimitOffsetPagination

from .params import OFFSET_MAX, int_param


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 500

    def get_limit(self, request):
        raw = request.query_params.get(self.limit_query_param)
        limit = int_param(raw, name=self.limit_query_param, low=1, high=self.max_limit, default=self.default_limit)
        return limit

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        return int_param(raw, name=self.offset_query_param, low=0, high=OFFSET_MAX, default=0)
