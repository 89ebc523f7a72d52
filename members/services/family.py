"""Family links (家庭共济): who may pay from whose personal account."""

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.errors import Conflict, DomainError

from ..models import (
    FamilyLink,
    Member,
)


def family_link_check(*, member, relative, relation: str) -> None:
    """Refuse a link that would break the family rules; raise Conflict naming the rule.

    A link is never to oneself, a pair is linked once, and each side has at most one
    spouse at a time. Called by `family_link_create` and by forms before they save.
    """
    if member.pk is not None and member.pk == relative.pk:
        raise Conflict(_("A member cannot be linked to themselves."), code="family_link_self",
                       details={"relative": _("the member themselves")})
    if relation not in FamilyLink.Relation.values:
        raise DomainError(_("Unknown relation."), code="invalid", details={"relation": relation})
    if member.pk is not None and FamilyLink.objects.filter(
        Q(member=member, relative=relative) | Q(member=relative, relative=member)
    ).exists():
        raise Conflict(_("These two members are already linked."), code="family_link_exists")
    if relation == FamilyLink.Relation.SPOUSE:
        for side in (member, relative):
            if side.pk is not None and FamilyLink.objects.filter(
                member=side, relation=FamilyLink.Relation.SPOUSE
            ).exists():
                raise Conflict(
                    _("%(member)s already has a spouse.") % {"member": side},
                    code="family_link_second_spouse",
                )


@transaction.atomic
def family_link_create(*, member, relative, relation: str, user=None):
    """Link two members both ways: `relation` is what the relative is to the member,
    and the inverse link (parent ↔ child, spouse ↔ spouse) is added with it."""
    # Lock both members (fixed order) so two clerks cannot each add a spouse at once.
    list(Member.objects.filter(pk__in=[member.pk, relative.pk]).order_by("pk").select_for_update())
    family_link_check(member=member, relative=relative, relation=relation)
    link = FamilyLink.objects.create(member=member, relative=relative, relation=relation)
    FamilyLink.objects.create(member=relative, relative=member, relation=FamilyLink.INVERSE[relation])
    audit(actor=user, action="family_link.create", target=link, label=f"{member} → {relative}",
          member_id=member.pk, relative_id=relative.pk, relation=relation)
    return link


@transaction.atomic
def family_link_delete(*, link, user=None) -> None:
    """Remove a family link and its inverse together (a link is never one-sided)."""
    pair = FamilyLink.objects.filter(
        Q(member_id=link.member_id, relative_id=link.relative_id)
        | Q(member_id=link.relative_id, relative_id=link.member_id)
    )
    audit(actor=user, action="family_link.delete", target=link,
          member_id=link.member_id, relative_id=link.relative_id, relation=link.relation)
    pair.delete()
# ---------------------------------------------------------------------------------------------
# Account-credit policy (§3.1) as data
# ---------------------------------------------------------------------------------------------

