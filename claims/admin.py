"""Claims admin: the catalog (another module) and settlements."""

from . import admin_settlement  # noqa: E402,F401 - settlements, policies, benefit years
