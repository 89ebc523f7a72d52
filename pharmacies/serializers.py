from rest_framework import serializers

from .models import Provider


class ProviderOutput(serializers.ModelSerializer):
    parent_code = serializers.CharField(source="parent.code", default=None, read_only=True)

    class Meta:
        model = Provider
        fields = ["code", "name", "kind", "level", "parent_code", "outpatient_pooling", "status", "district"]
        read_only_fields = fields
