"""Family links (家庭共济): who may pay from whose personal account."""

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError
from core.idnumber import mask_id_number

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
    audit(actor=user, action=AuditAction.FAMILY_LINK_CREATE, target=link, label=f"{member} → {relative}",
          member_id=member.pk, relative_id=relative.pk, relation=relation)
    return link


def family_link_outside_check(*, member, relative_id_number: str, relative_name: str, relation: str) -> str:
    """Refuse a link to a relative outside the registry that breaks the family rules; return
    the ID number normalized. The ID number must pass GB 11643; a relative who is a member is
    linked as a member (both ways) instead."""
    from django.core.exceptions import ValidationError

    from core.idnumber import normalize_id_number, parse_id_number

    id_number = normalize_id_number(relative_id_number or "")
    try:
        parse_id_number(id_number)
    except ValidationError as error:
        raise DomainError(_("The relative's ID number is not valid."), code="invalid_id_number",
                          details={"relative_id_number": " ".join(error.messages)}) from None
    if not (relative_name or "").strip():
        raise DomainError(_("Name the relative outside the registry."), code="invalid",
                          details={"relative_name": _("This field is required.")})
    if relation not in FamilyLink.Relation.values:
        raise DomainError(_("Unknown relation."), code="invalid", details={"relation": relation})
    if member.id_number == id_number:
        raise Conflict(_("A member cannot be linked to themselves."), code="family_link_self",
                       details={"relative": _("the member themselves")})
    if Member.objects.filter(id_number=id_number).exists():
        raise Conflict(_("This relative is a member: link the member instead."), code="family_link_relative_is_member",
                       details={"relative_id_number": _("a member of the registry")})
    if member.pk is not None and FamilyLink.objects.filter(member=member, relative__isnull=True, relative_id_number=id_number).exists():
        raise Conflict(_("These two members are already linked."), code="family_link_exists")
    if relation == FamilyLink.Relation.SPOUSE and member.pk is not None and FamilyLink.objects.filter(
        member=member, relation=FamilyLink.Relation.SPOUSE
    ).exists():
        raise Conflict(_("%(member)s already has a spouse.") % {"member": member}, code="family_link_second_spouse")
    return id_number


@transaction.atomic
def family_link_create_outside(*, member, relative_id_number: str, relative_name: str, relation: str, user=None):
    """Link a relative outside the registry (insured elsewhere, e.g. resident insurance or
    another city, or not at all) to `member`, whose account may then pay the relative's
    personal burden (CONTRACT.md "Account-only settlement"). One way only: the relative has
    no account here. `relation` is what the relative is to the member."""
    list(Member.objects.filter(pk=member.pk).select_for_update())
    id_number = family_link_outside_check(member=member, relative_id_number=relative_id_number,
                                          relative_name=relative_name, relation=relation)
    link = FamilyLink.objects.create(member=member, relative=None, relative_id_number=id_number,
                                     relative_name=relative_name.strip(), relation=relation)
    audit(actor=user, action=AuditAction.FAMILY_LINK_CREATE, target=link, label=str(link),
          member_id=member.pk, relative=mask_id_number(id_number), relation=relation)
    return link


@transaction.atomic
def family_link_delete(*, link, user=None) -> None:
    """Remove a family link and its inverse together (a link is never one-sided; a link to a
    relative outside the registry has no inverse)."""
    if link.relative_id is None:
        audit(actor=user, action=AuditAction.FAMILY_LINK_DELETE, target=link, member_id=link.member_id,
              relative=mask_id_number(link.relative_id_number), relation=link.relation)
        FamilyLink.objects.filter(pk=link.pk).delete()
        return
    pair = FamilyLink.objects.filter(
        Q(member_id=link.member_id, relative_id=link.relative_id)
        | Q(member_id=link.relative_id, relative_id=link.member_id)
    )
    audit(actor=user, action=AuditAction.FAMILY_LINK_DELETE, target=link,
          member_id=link.member_id, relative_id=link.relative_id, relation=link.relation)
    pair.delete()
# ---------------------------------------------------------------------------------------------
# Account-credit policy (§3.1) as data
# ---------------------------------------------------------------------------------------------

