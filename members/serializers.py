from rest_framework import serializers

from .models import Enrollment, Member


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
