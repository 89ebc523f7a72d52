"""django.contrib.admin with Gongji's staff-only site as `admin.site` (kept apart from
config.admin_site, which imports forms and so cannot load while apps are populating)."""

from django.contrib.admin.apps import AdminConfig


class GongjiAdminConfig(AdminConfig):
    default_site = "config.admin_site.GongjiAdminSite"
