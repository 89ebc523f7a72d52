"""The transaction boundary (README "Transactions").

Services (`<app>/services…`) use plain `transaction.atomic()`: they join the caller's
transaction (as a savepoint), or open one when nothing is open. `durable=True` belongs only to
the outermost entry points, which decide where a unit of work begins and commits: API views,
Celery tasks, management commands, and the two decorators below for the admin site and the
provider portal. A durable block inside another transaction raises `RuntimeError`, so an entry
point called from inside a transaction is caught at once instead of committing half a request.
"""

from functools import wraps

from django.db import transaction

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def durable_on_post(view):
    """Run a view's writing requests (POST and the like) in one outermost transaction.

    Reads stay outside any transaction (the pinned query counts of the changelists and the
    portal pages do not change). Whatever the view writes through any number of services
    commits together, or not at all when the view raises."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method in SAFE_METHODS:
            return view(request, *args, **kwargs)
        with transaction.atomic(durable=True):
            return view(request, *args, **kwargs)

    return wrapped
