"""Monitoring runs (command, nightly task, run record, never twice the same flag) and the
single-visit rules inside settlement (warnings, one cached knowledge-base lookup)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from claims.visit_facts import LineFact, VisitFacts
from supervision.models import Flag, KnowledgeBaseVersion, MonitoringRun, Rule
from supervision.monitoring import monitoring_run
from supervision.realtime import run_single_visit_rules
from supervision.rules import RULES
from supervision.tasks import monitor_previous_day
from tests.supervision.helpers import batch_1, batch_8_1, claim, institution, load, member

pytestmark = pytest.mark.django_db
DAY = date(2024, 3, 8)


def planted():
    who = member(status="deceased", died_on=DAY - timedelta(days=3))
    return claim(who, DAY, [("DRUG-A", 1, "10.00")], provider=institution(), fund="7.00")


def test_a_run_records_what_it_did_and_never_flags_the_same_item_twice():
    planted()
    first = monitoring_run(date_from=DAY, date_to=DAY)
    assert sorted(first.rules_run) == sorted(RULES)
    assert (first.claims_checked, first.flags_raised, first.per_rule["after_death"]["raised"]) == (1, 1, 1)
    assert all("seconds" in item for item in first.per_rule.values())
    again = monitoring_run(date_from=DAY - timedelta(days=7), date_to=DAY)
    assert (again.flags_raised, again.per_rule["after_death"]["findings"]) == (0, 1)
    assert Flag.objects.count() == 1


def test_a_rule_switched_off_or_out_of_its_dates_does_not_run():
    planted()
    Rule.objects.filter(code="after_death").update(enabled=False)
    Rule.objects.filter(code="inpatient_visit").update(effective_to=DAY - timedelta(days=1))
    run = monitoring_run(date_from=DAY, date_to=DAY)
    assert "after_death" not in run.rules_run and "inpatient_visit" not in run.rules_run
    assert not Flag.objects.exists()


def test_rule_parameters_are_checked_against_the_rule():
    rule = Rule.objects.get(code="frequent_visits")
    rule.parameters = {"max_visits_per_month": "many"}
    with pytest.raises(ValidationError):
        rule.save()
    rule.parameters = {"no_such_thing": 1}
    with pytest.raises(ValidationError):
        rule.save()
    rule.parameters = {"max_visits_per_month": 20, "appeal_days": 10}
    rule.save()


def test_the_command_runs_a_range(capsys):
    planted()
    call_command("run_monitoring", "--from", "2024-03-01", "--to", "2024-03-31")
    out = capsys.readouterr().out
    assert "after_death" in out and "flags raised 1" in out


def test_the_nightly_task_checks_yesterday_and_is_scheduled():
    task = PeriodicTask.objects.get(task="supervision.monitor_previous_day")
    assert task.enabled and task.crontab.hour == "1"
    yesterday = timezone.localdate() - timedelta(days=1)
    who = member(status="deceased", died_on=yesterday - timedelta(days=1))
    claim(who, yesterday, [("DRUG-A", 1, "10.00")], provider=institution())
    run = MonitoringRun.objects.get(pk=monitor_previous_day())
    assert (run.date_from, run.date_to, run.flags_raised) == (yesterday, yesterday, 1)


# --- inside settlement ---------------------------------------------------------------------


def visit(sex="F", kind="pharmacy", lines=()):
    return VisitFacts(visit_date=DAY, member_age=40, member_sex=sex, provider_code="P1", provider_kind=kind,
                      lines=tuple(LineFact(position=n, code=code, item_class="A", quantity=Decimal(q), unit_price=Decimal(p),
                                                 amount=Decimal(q) * Decimal(p), platform_price=None if pp is None else Decimal(pp))
                                  for n, (code, q, p, pp) in enumerate(lines)))


@pytest.fixture
def knowledge(tmp_path):
    load(batch_1(tmp_path / "b1.xlsx", {"阿帕他胺片": ("男", ["MALE-DRUG"])}))
    load(batch_8_1(tmp_path / "b8.xlsx", [("ONCE-A-DAY", 1, "日")]))


def test_single_visit_rules_warn_in_settlement_and_stay_quiet_on_near_misses(knowledge):
    warnings = run_single_visit_rules(visit(sex="F", lines=[
        ("MALE-DRUG", "1", "5.00", None), ("ONCE-A-DAY", "1", "3.00", None), ("ONCE-A-DAY", "1", "3.00", None),
        ("PRICED", "1", "10.01", "10.00"),
    ]))
    assert sorted((w["rule"], w["item"]) for w in warnings) == [
        ("frequency_limit", 2), ("price_above_platform", 3), ("sex_restricted_drug", 0)]
    assert run_single_visit_rules(visit(sex="M", lines=[
        ("MALE-DRUG", "1", "5.00", None), ("ONCE-A-DAY", "1", "3.00", None), ("PRICED", "1", "10.00", "10.00"),
    ])) == []
    # Ziyang 第二十一条 is about pharmacies: an institution's price is not judged here.
    assert run_single_visit_rules(visit(kind="institution", lines=[("PRICED", "1", "12.00", "10.00")])) == []


def test_settlement_rules_cost_one_query_and_follow_a_reimport(knowledge, tmp_path, django_assert_num_queries):
    facts = visit(sex="F", lines=[("MALE-DRUG", "1", "5.00", None), ("OTHER", "1", "5.00", None)])
    run_single_visit_rules(facts)  # warm the cache
    with django_assert_num_queries(1):
        assert len(run_single_visit_rules(facts)) == 1
    load(batch_1(tmp_path / "b1-new.xlsx", {"甲药": ("男", ["OTHER"])}))
    assert [w["item"] for w in run_single_visit_rules(facts)] == [1]
    rule = Rule.objects.get(code="sex_restricted_drug")
    rule.enabled = False
    rule.save()
    assert run_single_visit_rules(facts) == []
    assert KnowledgeBaseVersion.objects.get().token
