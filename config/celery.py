import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger
from kombu.transport import redis as kombu_redis

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

app = Celery("gongji")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_id_numbers(logger, **kwargs):
    """The worker's own log handlers (Celery configures them, not Django's LOGGING) mask
    identity numbers too: no log line of any process holds one."""
    from core.observability import mask_handlers

    mask_handlers(logger)


# A worker must outlive Redis going away (tests/faults/test_redis_outage.py). Celery 5.7 with
# kombu 5.7, on losing the broker, first collects the connection (which drops the transport's
# client) and then closes it; closing the channel tries to put the unacknowledged messages back
# (with acks_late, every task running or prefetched) through that client, hits None and raises
# AttributeError, which is not a connection error: "Unrecoverable error", the worker exits.
# With the client gone nothing can be restored anyway (the broker is down); the messages stay in
# Redis's unacked set and come back after the visibility timeout, as after a killed worker.
_restore_unacked = kombu_redis.QoS.restore_unacked


def _restore_unacked_unless_released(self, client=None):
    transport = getattr(self.channel, "connection", None)
    if client is None and (transport is None or getattr(transport, "client", None) is None):
        self._delivered.clear()
        return None
    return _restore_unacked(self, client)


kombu_redis.QoS.restore_unacked = _restore_unacked_unless_released
