from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development-only tools: the benchmark commands and their load generator. Installed by the
    development/test settings only (config/settings/development.py), never in production."""

    name = "devtools"
    verbose_name = "Development tools"
