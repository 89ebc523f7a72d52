"""No page a role can reach shows an untranslated code (issue 16): every admin list, change
and history page, for each role, rendered in Chinese on the demo, is read as a person reads
it and searched for codes (snake_case values, dotted actions, raw durations, None, English
headings, region keys)."""

from datetime import date

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from core.roles import Role
from tests.factories import UserFactory

from .scan import codes_in

pytestmark = pytest.mark.django_db

# Values that are data, not codes: e-mail-like usernames and catalog codes typed by people.
ALLOWED = {"demo_otp_codes"}


@pytest.fixture
def demo(settings):
    from demo.data import load_demo

    settings.REGION = "zaozhuang"
    load_demo(today=date(2026, 11, 23))


def _pages(user):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(user)
    for model, model_admin in admin.site._registry.items():
        request = type("R", (), {"user": user})()
        if not model_admin.has_view_or_change_permission(request):
            continue
        if model._meta.app_label == "django_celery_beat":
            continue  # Celery's own tables: 系统管理 only, by design (the others read admin:schedules)
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        yield client, reverse(f"{prefix}_changelist")
        obj = model._default_manager.order_by("-pk").first()
        if obj is not None:
            for page in ("change", "history"):
                try:
                    yield client, reverse(f"{prefix}_{page}", args=[obj.pk])
                except NoReverseMatch:
                    pass
    yield client, reverse("admin:index")
    yield client, reverse("admin:schedules")


@pytest.mark.parametrize("role", [Role.CASE_WORKER, Role.AUDITOR, Role.FINANCE, Role.ADMINISTRATOR])
def test_no_admin_page_shows_a_code_where_words_belong(demo, role):
    user = UserFactory(roles=[role])
    problems = {}
    for client, url in _pages(user):
        response = client.get(url)
        if response.status_code != 200:
            continue
        found = codes_in(response.content.decode(), ALLOWED)
        if found:
            problems[url] = sorted(set(found))[:5]
    assert not problems, "\n".join(f"{url}: {found}" for url, found in sorted(problems.items()))


@pytest.mark.parametrize("role", [Role.CASE_WORKER, Role.FINANCE])
def test_case_workers_and_finance_read_the_schedules_in_words_not_cron(demo, role):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(UserFactory(roles=[role]))
    page = client.get(reverse("admin:schedules")).content.decode()
    assert "每月2日 02:00" in page and "生成上月月度清算单" in page
    assert client.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 403


def test_crontab_in_words():
    from django.utils import translation

    from core.schedules import crontab_words

    with translation.override("en"):
        assert crontab_words("30", "1", "*", "*", "*") == "every day at 01:30"
        assert crontab_words("0", "2", "1", "*", "*") == "on day 1 of every month at 02:00"
        assert crontab_words("0", "3", "*", "*", "1") == "every Monday at 03:00"
        assert crontab_words("*/5", "*", "*", "*", "*") == "at */5 * * * * (cron)"
        assert crontab_words("0", "3", "15", "1", "*") == "every year on 1/15 at 03:00"
    with translation.override("zh-hans"):
        assert crontab_words("0", "3", "15", "1", "*") == "每年1月15日 03:00"
