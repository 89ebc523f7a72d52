from django.apps import apps
from django.db.models.signals import post_migrate
from django.dispatch import receiver


@receiver(post_migrate)
def keep_role_permissions_current(sender, **kwargs):
    # post_migrate fires once per app, in INSTALLED_APPS order; permissions of every
    # app exist only when the last one has been handled.
    if sender.label != list(apps.get_app_configs())[-1].label:
        return
    from .roles import sync_roles

    sync_roles()
