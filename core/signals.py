from django.apps import apps
from django.db.models.signals import post_migrate
from django.dispatch import receiver


@receiver(post_migrate)
def keep_role_permissions_current(sender, **kwargs):
    # post_migrate fires once per app that has a models module, in INSTALLED_APPS order;
    # permissions of every app exist only when the last of those has been handled (apps
    # without models, such as demo and devtools, get no signal).
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender.label != with_models[-1].label:
        return
    from .roles import sync_roles

    sync_roles()
