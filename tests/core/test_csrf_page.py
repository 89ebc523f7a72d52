"""A form sent without its CSRF token (a page left open too long, a sign-in in another window)
is refused with a page in Chinese saying why and what to do, not Django's English."""

from django.test import Client
from django.urls import reverse

from pharmacies.models import Application
from tests.factories import ProviderStaffFactory


def test_a_portal_form_without_its_token_is_refused_in_chinese_and_saves_nothing(db):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(ProviderStaffFactory().user)
    url = reverse("portal:application_create")
    assert client.get(url).status_code == 200  # the CSRF cookie is set; the token is left out below
    response = client.post(url, {"name": "康宁大药房"})
    page = response.content.decode()
    assert response.status_code == 403
    assert "表单未能提交" in page and "页面安全校验未通过" in page and "本次提交的内容未保存" in page
    assert "请刷新页面后重试" in page
    assert f'<a href="{reverse("portal:home")}">返回首页</a>' in page
    assert "CSRF" not in page and "Forbidden" not in page
    assert not Application.objects.exists()


def test_the_admin_login_without_a_cookie_is_refused_in_chinese_linking_the_admin_home(db):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    response = client.post(reverse("admin:login"), {"username": "finance", "password": "x"})
    page = response.content.decode()
    assert response.status_code == 403
    assert "表单未能提交" in page and "请确认浏览器允许本站使用 Cookie" in page and "请刷新页面后重试" in page
    assert f'<a href="{reverse("admin:index")}">返回首页</a>' in page
    assert "CSRF" not in page and "Forbidden" not in page


def test_the_portal_login_without_a_cookie_links_the_portal_home(db):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    response = client.post(reverse("portal:login"), {"username": "provider", "password": "x"})
    page = response.content.decode()
    assert response.status_code == 403 and "表单未能提交" in page
    assert f'<a href="{reverse("portal:home")}">返回首页</a>' in page
