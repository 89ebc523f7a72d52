"""The case workers' screens are Simplified Chinese by default; English is available."""

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from core.roles import Role
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"


def _text(response) -> str:
    return " ".join(response.content.decode().split())


def test_the_admin_login_page_is_chinese_by_default(client):
    html = _text(client.get(reverse("admin:login")))
    assert '<html lang="zh-hans"' in html
    assert "共济 · 职工医保门诊共济保障经办管理系统" in html
    assert "登录" in html


def test_the_member_changelist_is_chinese_by_default(client):
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    MemberFactory(name="王建国")
    html = _text(client.get(reverse("admin:members_member_changelist")))
    for label in ("参保人员", "身份证号", "姓名", "性别", "年龄", "状态", "正常"):
        assert label in html, label


def test_english_is_available_with_accept_language(client):
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    MemberFactory()
    html = _text(client.get(reverse("admin:members_member_changelist"), HTTP_ACCEPT_LANGUAGE="en"))
    assert '<html lang="en"' in html
    assert "ID number" in html and "Full name" in html
    assert "身份证号" not in html


def test_english_is_available_with_the_language_cookie(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = _text(client.get(reverse("admin:login")))
    assert "Log in" in html and "Gongji: outpatient mutual-aid back office" in html


def test_the_language_switcher_sets_the_language(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("admin:login")})
    assert response.status_code == 302
    assert "Log in" in _text(client.get(reverse("admin:login")))


def _po_entries(path: Path) -> dict[str, str]:
    """msgid → msgstr of a .po file (enough of the format for Django's makemessages output)."""
    entries, current, key = {}, {}, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith(("msgid ", "msgid_plural ", "msgstr ", "msgstr[0] ")):
            key, _space, rest = line.partition(" ")
            key = "msgstr" if key == "msgstr[0]" else key  # a plural's only Chinese form
            current[key] = rest[1:-1]
        elif line.startswith('"') and key:
            current[key] += line[1:-1]
        elif not line.strip():
            if current.get("msgid"):
                entries[current["msgid"].replace('\\"', '"')] = current.get("msgstr", "").replace('\\"', '"')
            current, key = {}, None
    return entries


def test_every_string_is_translated_and_the_compiled_catalog_matches():
    """A fresh machine may have no gettext tools: the committed .mo must match the .po."""
    entries = _po_entries(CATALOG / "django.po")
    assert len(entries) > 150
    untranslated = [msgid for msgid, msgstr in entries.items() if not msgstr]
    assert untranslated == []
    with open(CATALOG / "django.mo", "rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)
    stale = [msgid for msgid, msgstr in entries.items() if catalog.gettext(msgid) != msgstr]
    assert stale == []


# Chinese punctuation in Chinese text: an ASCII colon, comma or semicolon touching a Chinese
# character (长期护理:居家护理, %(benefit)s:结算笔数, 数据库,请) is written full-width (：，；).
# ASCII stays between ASCII words (Authorization: Token, HH:mm:ss, JSON examples).
_CJK = "[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]"
_ASCII_PUNCTUATION_IN_CHINESE = re.compile(rf"{_CJK}[:,;]|[:,;]{_CJK}|%\(\w+\)s[:,;]")


def test_chinese_text_uses_full_width_colons_and_commas():
    entries = _po_entries(CATALOG / "django.po")
    found = {msgid: msgstr for msgid, msgstr in entries.items() if _ASCII_PUNCTUATION_IN_CHINESE.search(msgstr)}
    assert found == {}


# ASCII parentheses around Chinese text (丙类(全自费), 第八条(二)) or attached to a Chinese word
# (乙类先行自付比例(%)) are written full-width (（）). ASCII stays where the parentheses are the
# characters themselves (数字、空格和 + - ( )) and in placeholders (%(name)s).
_ASCII_PARENTHESES_IN_CHINESE = re.compile(rf"{_CJK}\([^()]*\)|\([^()]*{_CJK}[^()]*\)")


def test_chinese_text_uses_full_width_parentheses():
    entries = _po_entries(CATALOG / "django.po")
    found = {msgid: msgstr for msgid, msgstr in entries.items() if _ASCII_PARENTHESES_IN_CHINESE.search(msgstr)}
    assert found == {}
    assert _ASCII_PARENTHESES_IN_CHINESE.search("丙类(全自费)") and _ASCII_PARENTHESES_IN_CHINESE.search("比例(%)")
    assert not _ASCII_PARENTHESES_IN_CHINESE.search("数字、空格和 + - ( )。")
    assert not _ASCII_PARENTHESES_IN_CHINESE.search("共%(count)s笔")


def test_translations_use_the_glossary_labels():
    entries = _po_entries(CATALOG / "django.po")
    glossary = {
        "member": "参保人员", "retired": "退休", "in service": "在职", "pooled only": "单建统筹",
        "civil-servant medical subsidy": "公务员医疗补助", "personal account": "个人账户",
        "spouse": "配偶", "designated retail pharmacy": "定点零售药店", "internet hospital": "互联网医院",
        "platform price": "挂网价格", "provincial tertiary A": "省级三甲", "level 1 and below": "一级及以下",
    }
    assert {msgid: entries[msgid] for msgid in glossary} == glossary
    # Placeholders survive translation (Chinese word order may move them).
    for msgid, msgstr in entries.items():
        assert sorted(re.findall(r"%\(\w+\)[sd]", msgid)) == sorted(re.findall(r"%\(\w+\)[sd]", msgstr)), msgid
