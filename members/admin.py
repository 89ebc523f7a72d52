# Personal accounts, credit runs and withdrawal decisions (kept apart to ease merging).
from . import admin_accounts  # noqa: E402, F401
