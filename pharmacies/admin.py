
# The designation workflow (applications, agreements, history); keep this import last.
from .admin_workflow import *  # noqa: E402,F401,F403
