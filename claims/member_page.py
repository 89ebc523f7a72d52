"""The member page's year so far (core.member_page): outpatient pooling and the large-amount
subsidy as the benefits endpoint reads them (services.member_benefits), the chronic and special
disease tallies, and the personal account's uses by kind (members.statements)."""

from django.utils.translation import gettext_lazy as _

from core.member_page import MemberSection, member_section
from members.statements import OWN, PREMIUMS, RELATIVES, account_statement

from .chronic_models import ChronicYear, Disease
from .services import member_benefits


@member_section
def pooling_year(request, member, year):
    benefits = member_benefits(user=request.user, id_number=member.id_number, year=year)
    return MemberSection(
        title=_("Outpatient pooling"),
        headers=[_("deductible met"), _("fund paid"), _("cap"), _("cap remaining"),
                 _("pooled fund's yearly maximum remaining"), _("large-amount burden"),
                 _("large-amount subsidy pending")],
        rows=[[benefits["deductible_met"], benefits["fund_paid"], benefits["cap"], benefits["cap_remaining"],
               benefits["annual_fund_maximum_remaining"], benefits["large_expense_burden"],
               benefits["large_expense_subsidy_pending"]]],
    )


def tally_label(tally: str) -> str:
    kind, _sep, code = tally.partition(":")
    if kind == "group":
        return str(Disease.Group(code).label) if code in Disease.Group.values else code
    disease = Disease.objects.filter(code=code).order_by("pk").first()
    return disease.name if disease is not None else code


@member_section
def chronic_year(request, member, year):
    rows = [
        [tally_label(row.tally), row.deductible_met, row.fund_paid, row.limit, row.limit_remaining]
        for row in ChronicYear.objects.filter(member=member, year=year).order_by("tally")
    ]
    return MemberSection(
        title=_("Chronic and special diseases"),
        headers=[_("disease or group"), _("deductible met"), _("fund paid"), _("yearly limit"), _("limit remaining")],
        rows=rows, empty=_("No chronic or special disease settlement this year."),
    )


@member_section
def account_uses(request, member, year):
    account = getattr(member, "account", None)
    if account is None:
        return MemberSection(title=_("Personal account: uses by kind"), headers=[], rows=[],
                             empty=_("The member has no personal account."))
    statement = account_statement(account, year)
    return MemberSection(
        title=_("Personal account: uses by kind"),
        headers=[_("opening balance"), _("credits"), _("own medical costs and purchases"), _("relatives (family sharing)"),
                 _("premiums"), _("closing balance")],
        rows=[[statement.opening, statement.credits, statement.uses[OWN], statement.uses[RELATIVES],
               statement.uses[PREMIUMS], statement.closing]],
    )
