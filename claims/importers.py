"""Import of the catalog (import_catalog). See core.imports.pipeline for the pipeline."""

from __future__ import annotations

from django.utils.translation import gettext as _

from core.imports.pipeline import Cells, Column, choice_map
from core.imports.upsert import UpsertImporter

from .models import CatalogItem

CATALOG_KIND = choice_map(CatalogItem.Kind.choices, {
    "药品": "drug", "西药": "drug", "中成药": "drug", "诊疗项目": "service", "医疗服务项目": "service",
    "医疗服务": "service", "医用耗材": "consumable", "耗材": "consumable"})
CATALOG_CLASS = choice_map(CatalogItem.ItemClass.choices, {
    "甲": "A", "甲类": "A", "乙": "B", "乙类": "B", "丙": "C", "丙类": "C", "a": "A", "b": "B", "c": "C"})
CATALOG_SEX = choice_map(CatalogItem.Sex.choices, {"男": "M", "女": "F", "不限": "", "m": "M", "f": "F"})


class CatalogItemImporter(UpsertImporter):
    """Catalog items (医保目录), keyed by national code. Only class B carries a prepay percent."""

    kind = "catalog"
    model = CatalogItem
    update_fields = ("name", "kind", "item_class", "prepay_percent", "payment_standard", "sex", "min_age",
                     "max_age", "list_price", "platform_price", "account_payable", "separately_paid")
    keep_when_absent = {"payment_standard": "payment_standard", "sex": "sex", "min_age": "min_age",
                        "max_age": "max_age", "list_price": "list_price", "platform_price": "platform_price",
                        "account_payable": "account_payable", "separately_paid": "separately_paid"}
    columns = (
        Column("code", "医保编码", required=True, aliases=("国家编码", "目录编码", "项目编码")),
        Column("name", "名称", required=True, aliases=("项目名称", "药品名称")),
        Column("kind", "目录类别", required=True, aliases=("项目类别", "类型")),
        Column("class", "甲乙类", required=True, aliases=("甲乙丙类", "收费类别", "item_class")),
        Column("prepay_percent", "先行自付比例", aliases=("乙类先行自付比例", "自付比例")),
        Column("payment_standard", "支付标准", aliases=("最高支付标准", "限价")),
        Column("sex", "限定性别", aliases=("性别限制",)),
        Column("min_age", "最小年龄", aliases=("年龄下限",)),
        Column("max_age", "最大年龄", aliases=("年龄上限",)),
        # Beyond the contract: the listed price (used when a provider omits unit_price) and
        # the provincial platform price (挂网价格) for price monitoring.
        Column("list_price", "价格", aliases=("挂牌价格", "零售价")),
        Column("platform_price", "挂网价格"),
        # CONTRACT.md "Account-only settlement": false for health-care products, fitness, public
        # health (Zaozhuang 第八条); empty or absent means true.
        Column("account_payable", "个人账户可支付", aliases=("账户可支付", "个账可支付")),
        # Jinan (十六), Yangzhou 三(三): nationally negotiated drugs paid separately (单独支付, 双通道),
        # never against a budget; empty means false.
        Column("separately_paid", "单独支付", aliases=("谈判药品单独支付", "单独支付药品")),
    )

    def parse_row(self, raw):
        cells = Cells(raw)
        code = cells.text("code", required=True, max_length=64)
        values = {
            "code": code,
            "name": cells.text("name", required=True, max_length=200),
            "kind": cells.choice("kind", CATALOG_KIND),
            "item_class": cells.choice("class", CATALOG_CLASS),
            "prepay_percent": cells.decimal("prepay_percent", minimum=0, maximum=100),
            "payment_standard": cells.decimal("payment_standard", minimum=0),
            "sex": cells.choice("sex", CATALOG_SEX, default=""),
            "min_age": cells.integer("min_age", minimum=0, maximum=150),
            "max_age": cells.integer("max_age", minimum=0, maximum=150),
            "list_price": cells.decimal("list_price", minimum=0),
            "platform_price": cells.decimal("platform_price", minimum=0),
            "account_payable": cells.boolean("account_payable", default=True),
            "separately_paid": cells.boolean("separately_paid", default=False),
        }
        failed = {k for k, _r in cells.problems}
        if values["item_class"] == "B" and values["prepay_percent"] is None and "prepay_percent" not in failed:
            cells.fail("prepay_percent", _("A class-B item needs its prepay percent."))
        if values["item_class"] in ("A", "C") and values["prepay_percent"] is not None:
            cells.fail("prepay_percent", _("Only a class-B item has a prepay percent."))
        if values["min_age"] is not None and values["max_age"] is not None and values["min_age"] > values["max_age"]:
            cells.fail("max_age", _("The maximum age is below the minimum age."))
        return values, cells.problems

    def key(self, values):
        return values["code"], "code"

    def db_key(self, values):
        return values["code"]

    def existing(self, rows):
        found = {}
        for chunk in self.chunks(sorted({r.values["code"] for r in rows})):
            found.update((item.code, item) for item in CatalogItem.objects.filter(code__in=chunk))
        return found

    def new_instance(self, values):
        return CatalogItem(**{name: values[name] for name in ("code", *self.update_fields)})
