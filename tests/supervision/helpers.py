"""Test data for supervision: settled claims written directly (no settlement run), small
rule-library spreadsheets in the published format, and the SQL-vs-predicate check."""

import itertools
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
from django.contrib.auth import get_user_model

from claims.models import CatalogItem, Claim, ClaimLine, PolicyVersion
from claims.policy_services import policy_load
from members.models import Member
from supervision.monitoring import SQL_RULES, facts_from_database
from supervision.rules import RULES, parameters_of
from supervision.services import rulebase_import
from tests.factories import MemberFactory, ProviderFactory

PRESET = Path(__file__).resolve().parents[2] / "claims" / "policies" / "zaozhuang.json"
_refs = itertools.count(1)


def policy_version() -> PolicyVersion:
    version = PolicyVersion.objects.order_by("pk").first()
    if version is None:
        policy_load(data=json.loads(PRESET.read_text(encoding="utf-8")))
        version = PolicyVersion.objects.order_by("pk").first()
    return version


def member(sex: str = "M", **kwargs) -> Member:
    while True:  # the ID number decides the sex (GB 11643): draw until it is the one wanted
        candidate = MemberFactory.build(**kwargs)
        if candidate.id_number[16] in ("13579" if sex == "M" else "02468"):
            candidate.save()
            return candidate


def item(code: str, *, kind: str = "drug", item_class: str = "A", platform_price=None) -> CatalogItem:
    return CatalogItem.objects.get_or_create(
        code=code, defaults={"name": code, "kind": kind, "item_class": item_class,
                             "platform_price": None if platform_price is None else Decimal(platform_price)},
    )[0]


def claim(who: Member, day: date, lines=(), *, provider=None, fund="0.00", account="0.00", total=None,
          fully_self_paid="0.00", balance_after=None, status=Claim.Status.SETTLED) -> Claim:
    """A settled claim with lines [(code or CatalogItem, quantity, unit price), ...]."""
    settled_by = get_user_model().objects.get_or_create(username="settlement-clerk")[0]
    rows = []
    for position, (code, quantity, price) in enumerate(lines):
        catalog_item = code if isinstance(code, CatalogItem) else item(code)
        quantity, price = Decimal(str(quantity)), Decimal(str(price))
        rows.append((position, catalog_item, quantity, price, (quantity * price).quantize(Decimal("0.01"))))
    total = Decimal(total) if total is not None else sum((row[4] for row in rows), Decimal("0.00"))
    zero = Decimal("0.00")
    record = Claim.objects.create(
        submitter=provider.code if provider else "cross_region", external_ref=f"T-{next(_refs)}", request_hash="x",
        provider=provider, member=who, visit_date=day, year=day.year, policy_version=policy_version(),
        total=total, fully_self_paid=Decimal(fully_self_paid), over_limit=zero, class_b_prepay=zero, policy_scope=total,
        temporary_visit_prepay=zero, deductible=zero, pay_ratio_percent=Decimal("50"), fund=Decimal(fund),
        personal_burden=total - Decimal(fund), account=Decimal(account), family_account=zero,
        cash=max(total - Decimal(fund) - Decimal(account), zero),
        balance_after=None if balance_after is None else Decimal(balance_after), settled_by=settled_by, status=status,
    )
    ClaimLine.objects.bulk_create([
        ClaimLine(claim=record, position=position, catalog_item=catalog_item, quantity=quantity, unit_price=price,
                  amount=amount, fully_self_paid=zero, over_limit=zero, class_b_prepay=zero, policy_scope=amount)
        for position, catalog_item, quantity, price, amount in rows
    ])
    return record


def institution(**kwargs):
    return ProviderFactory(kind="institution", **kwargs)


def pharmacy(**kwargs):
    return ProviderFactory(kind="pharmacy", **kwargs)


def check(code: str, date_from: date, date_to: date, **params):
    """Run a rule in SQL and as its pure predicate over the same data; they must agree."""
    parameters = parameters_of(code, params)
    sql = SQL_RULES[code](date_from, date_to, parameters)
    pure = RULES[code].predicate(facts_from_database(date_from, date_to), parameters)
    assert sorted(f.signature() for f in sql) == sorted(f.signature() for f in pure)
    return sorted(sql, key=lambda f: f.item_key)


# --- spreadsheets in the published format (shared/data/rulebase/README.md) ----------------


def workbook(path: Path, sheets: dict[str, list[tuple]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    return path


def batch_1(path: Path, drugs: dict[str, tuple[str, list[str]]]) -> Path:
    """drugs: generic name → (男/女, [national drug codes])."""
    names = [("药品通用名", "药品说明", "限定类型", "限定对象")]
    codes = [("药品通用名", "序号", "药品代码", "限定类型")]
    for name, (sex, drug_codes) in drugs.items():
        names.append((name, f"{name}说明", "限定性别对象", sex))
        codes += [(name, n, code, "限定性别对象") for n, code in enumerate(drug_codes, start=1)]
    return workbook(path, {"Sheet1": names, "Sheet2": codes})


def batch_7(path: Path, pairs: list[tuple[str, str, str]]) -> Path:
    """pairs: (period 单日/单次就诊/…, main code, included code)."""
    rows = [("序号", "频度", "主项名称", "主项编码", "从项名称", "从项编码", "备注")]
    rows += [(n, period, f"主项{main}", main, f"从项{included}", included, "")
             for n, (period, main, included) in enumerate(pairs, start=1)]
    return workbook(path, {"“医疗服务项目重复收费”规则对应知识点明细": rows})


def batch_8_1(path: Path, limits: list[tuple[str, int, str]]) -> Path:
    """limits: (item code, max count, unit 日/小时/天); ends with the published footer rows."""
    rows = [("序号", "项目名称", "限制数量", "数量单位", "项目编码")]
    rows += [(n, f"项目{code}", count, unit, code) for n, (code, count, unit) in enumerate(limits, start=1)]
    rows += [("合计", None, None, None, None), ("备注：各省级医保部门应当进行细化和本地化。", None, None, None, None)]
    return workbook(path, {"“医疗服务项目限定频次”规则对应知识点明细": rows})


def load(path: Path, batch=None):
    return rulebase_import(source=str(path), batch=batch, file_name=path.name)
