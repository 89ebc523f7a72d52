from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data (`manage.py setup_demo`): above every app, so the kernel (core) needs none."""

    name = "demo"
    verbose_name = "Demo"
