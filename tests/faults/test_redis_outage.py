"""Redis down and back: the worker and beat stay up while the broker is gone, and the scheduled
work runs again when it returns (real worker and beat processes, a private Redis, PostgreSQL).

That settlement keeps working while Redis is unreachable is tested in tests/core/test_operations.py.
"""

import json

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import app
from supervision.models import MonitoringRun

from .processes import free_port, wait_for, wait_until_consuming

TASK = "supervision.monitor_previous_day"  # the nightly monitoring run: repeating it raises no flag twice


def _runs() -> int:
    return MonitoringRun.objects.filter(finished_at__isnull=False).count()


def test_workers_and_beat_retry_the_broker_forever():
    """The default gives up after 100 attempts (about 50 minutes): a long outage would stop them."""
    assert app.conf.broker_connection_retry is True
    assert app.conf.broker_connection_retry_on_startup is True
    assert app.conf.broker_connection_max_retries is None


def test_scheduled_work_resumes_when_redis_returns(real_services):
    processes = real_services
    # Only this schedule: the monitoring run every second (the shipped schedules are switched off).
    PeriodicTask.objects.update(enabled=False)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="fault test: monitoring every second", task=TASK, interval=every_second,
                                kwargs=json.dumps({}))

    port = free_port()
    redis = processes.redis(port)
    env = processes.django_env(port)
    worker = processes.worker("worker", env)
    beat = processes.beat("beat", env)
    wait_until_consuming(processes, "worker")
    wait_for(lambda: _runs() >= 2, timeout=60, interval=0.1,
             what=f"the scheduled task to run twice\n{processes.logs_tail()}")

    # Redis goes away (killed, nothing saved: the queued messages are lost with it).
    processes.kill(redis)
    wait_for(lambda: "Connection to broker lost" in processes.log("worker"), timeout=20, interval=0.1,
             what=f"the worker to notice the broker is gone\n{processes.logs_tail()}")
    sent_before = processes.log("beat").count("Sending due task")
    # Beat keeps its schedule: it tries to send the task every second, and fails.
    wait_for(lambda: processes.log("beat").count("Sending due task") >= sent_before + 3, timeout=20, interval=0.1,
             what=f"beat to keep trying while the broker is gone\n{processes.logs_tail()}")
    assert "Message Error" in processes.log("beat"), processes.logs_tail()
    runs_while_down = _runs()
    # Both are still up (the same processes: nothing restarted them) and retrying.
    assert worker.poll() is None, processes.logs_tail()
    assert beat.poll() is None, processes.logs_tail()
    assert "Cannot connect to redis" in processes.log("worker"), processes.logs_tail()

    # Redis is back on the same port: the schedule runs again, with no restart of either process.
    processes.redis(port)
    wait_for(lambda: _runs() >= runs_while_down + 2, timeout=40, interval=0.2,
             what=f"the scheduled task to run again after Redis returned\n{processes.logs_tail()}")
    assert worker.poll() is None and beat.poll() is None, processes.logs_tail()
    assert processes.log("worker").count("Connected to redis") == 2, processes.logs_tail()


def test_closing_a_channel_whose_connection_was_released_does_not_crash_the_worker():
    """The kombu race the outage test hit (see config/celery.py): the transport's client is gone
    when the channel is closed with messages unacknowledged; closing must not raise."""
    from types import SimpleNamespace

    from kombu.transport import redis as kombu_redis

    qos = kombu_redis.QoS.__new__(kombu_redis.QoS)
    qos.channel = SimpleNamespace(connection=SimpleNamespace(client=None))
    qos._delivered = {"tag-1": object()}
    assert qos.restore_unacked() is None
    assert qos._delivered == {}
