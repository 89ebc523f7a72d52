from rest_framework import serializers

from .models import Enrollment, LedgerEntry, Member


class EnrollmentOutput(serializers.ModelSerializer):
    class Meta:
        model = Enrollment
        fields = [
            "effective_from", "employment_status", "retired_on", "scheme", "category", "sector",
            "civil_servant", "pre_1949_veteran",
        ]
        read_only_fields = fields


class MemberOutput(serializers.ModelSerializer):
    enrollment = serializers.SerializerMethodField()

    class Meta:
        model = Member
        fields = ["id_number", "name", "sex", "birth_date", "status", "died_on", "enrollment"]
        read_only_fields = fields

    def get_enrollment(self, member) -> dict | None:
        current = self.context.get("enrollment")
        return EnrollmentOutput(current).data if current else None


class LedgerEntryOutput(serializers.ModelSerializer):
    class Meta:
        model = LedgerEntry
        fields = ["id", "created_at", "kind", "amount", "balance_after", "period", "reference", "memo"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("for_provider"):
            # A reference or memo names another provider's transaction ("H…/HIS-…"), a
            # reversal's reason or the agency's note: a provider sees amounts, never those.
            data["reference"] = data["memo"] = ""
        return data


class AccountOutput(serializers.Serializer):
    id_number = serializers.CharField(help_text="masked")
    status = serializers.CharField()
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)
    opened_on = serializers.DateField()
    closed_on = serializers.DateField(allow_null=True)
    entries = LedgerEntryOutput(many=True)
