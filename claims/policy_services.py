"""Loading region policy versions from data files (claims/policies/FORMAT.md)."""

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError
from core.regions import region_label

from . import chronic_format
from .models import Disease, PolicyVersion, fills_open_parameters
from .policy_format import validate_document


class PolicyFileInvalid(DomainError):
    code = "policy_file_invalid"
    default_message = _("The policy file is not valid.")


@transaction.atomic
def policy_load(*, data: dict, user=None) -> dict:
    """Create or update the versions a policy file describes. Idempotent: loading the same
    file twice changes nothing. A version that has settled claims is never changed: a file
    that would change one is refused as a whole (add a new version from a date instead)."""
    chronic = isinstance(data, dict) and data.get("kind") == chronic_format.KIND
    problems = chronic_format.validate_document(data) if chronic else validate_document(data)
    region = data.get("region") if isinstance(data, dict) else None
    if not problems and region not in settings.REGIONS:
        problems = [("region", f"must be one of {list(settings.REGIONS)}")]
    if problems:
        raise PolicyFileInvalid(details={"problems": [f"{path}: {message}" for path, message in problems]})
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    if chronic:
        # The chronic file carries the region's disease list where a public source gives one
        # (Zaozhuang 第十二条, Jinan (六): the province's list); import_diseases adds the rest.
        counts["diseases"] = _diseases_load(region, data.get("diseases", []))
    for version in data["versions"]:
        values = {
            "effective_to": date.fromisoformat(version["effective_to"]) if version.get("effective_to") else None,
            "title": version.get("title", ""),
            "source": data.get("source", "")[:300],
            "parameters": version["parameters"],
        }
        start = date.fromisoformat(version["effective_from"])
        existing = PolicyVersion.objects.select_for_update().filter(
            region=region, kind=data["kind"], effective_from=start
        ).first()
        if existing is None:
            PolicyVersion.objects.create(region=region, kind=data["kind"], effective_from=start, created_by=user if getattr(user, "pk", None) else None, **values)
            counts["created"] += 1
            continue
        if all(getattr(existing, key) == value for key, value in values.items()):
            counts["unchanged"] += 1
            continue
        if existing.is_used and (
            any(getattr(existing, key) != value for key, value in values.items() if key in ("title", "source"))
            or not fills_open_parameters(existing.parameters, values["parameters"])
        ):
            raise PolicyFileInvalid(
                _("The version from {date} has settled claims and can no longer be changed; add a new version from a date instead.").format(date=start.isoformat()),
                code="policy_version_in_use",
                details={"effective_from": start.isoformat()},
            )
        for key, value in values.items():
            setattr(existing, key, value)
        try:
            # A used version may only gain an end date after its settled visits (model guard).
            existing.save()
        except ValidationError as error:
            raise PolicyFileInvalid(
                details={"problems": [f"versions[{start.isoformat()}].{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()]}
            ) from None
        counts["updated"] += 1
    kind = PolicyVersion.Kind(data["kind"]).label if data["kind"] in PolicyVersion.Kind.values else data["kind"]
    audit(actor=user, action=AuditAction.POLICY_LOAD, label=f"{region_label(region)} {kind}", **counts)
    return counts


def _diseases_load(region: str, diseases: list[dict]) -> int:
    """Create or update the listed diseases of the region; returns how many changed."""
    changed = 0
    for row in diseases:
        disease = Disease.objects.filter(region=region, code=row["code"]).first()
        if disease is None:
            Disease.objects.create(region=region, code=row["code"], name=row["name"], group=row["group"])
            changed += 1
        elif (disease.name, disease.group) != (row["name"], row["group"]):
            disease.name, disease.group = row["name"], row["group"]
            disease.save(update_fields=["name", "group"])
            changed += 1
    return changed


WARN_DAYS_BEFORE_END = 90


def policy_versions_ending(*, today: date, within_days: int = WARN_DAYS_BEFORE_END) -> list[dict]:
    """The versions that end within `within_days` of `today` (or have ended) with no version
    of the same region and kind after them: from the day after, settlement would refuse with
    `policy_version_missing` (Ziyang 第二十五条: the rules hold for five years, to 2027-12-31).
    The admin index shows them so that a case worker adds the next version in time."""
    from datetime import timedelta

    horizon = today + timedelta(days=within_days)
    ending = []
    candidates = PolicyVersion.objects.filter(effective_to__isnull=False, effective_to__lte=horizon)
    for version in candidates.order_by("region", "kind", "effective_to"):
        later = PolicyVersion.objects.filter(
            region=version.region, kind=version.kind, effective_from__gt=version.effective_from
        )
        if later.exists():
            continue
        ending.append({
            "version": version,
            "region": version.region,
            "kind": version.kind,
            "effective_to": version.effective_to,
            "days_left": (version.effective_to - today).days,
            "ended": version.effective_to < today,
        })
    return ending
