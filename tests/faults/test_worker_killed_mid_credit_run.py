"""A Celery worker killed in the middle of a monthly credit run: running the month again finishes it,
every member credited exactly once (real worker processes, a real broker, PostgreSQL)."""

from datetime import date
from decimal import Decimal

from celery import Celery
from django.core.management import call_command
from django.db.models import Count, Sum

from core.idnumber import make_id_number, parse_id_number
from members import account_credits
from members.models import CreditRun, Enrollment, LedgerEntry, Member, PersonalAccount
from members.services import credit_plan_for
from tests.members.credit_helpers import use_region

from .processes import free_port, wait_for, wait_until_consuming

MONTH = date(2024, 3, 1)
ELIGIBLE = 2400
POOLED_ONLY = 48  # enrolled without a personal account: never credited
CHUNK_SIZE = 30
BASES = [Decimal("4000.00") + Decimal("111.11") * n for n in range(9)] + [Decimal("4000.25")]  # 2% of 4000.25 is 80.005
BORN = date(1980, 5, 17)


def _members() -> dict[int, Decimal]:
    """ELIGIBLE members in service (contribution bases varying) and POOLED_ONLY ones, in bulk.
    Returns {member id: contribution base} of the eligible ones."""
    people = []
    for n in range(ELIGIBLE + POOLED_ONLY):
        id_number = make_id_number(f"{370400 + n // 1000:06d}", BORN, n % 1000)
        facts = parse_id_number(id_number)
        people.append(Member(id_number=id_number, name=f"参保人{n}", sex=facts.sex, birth_date=facts.birth_date))
    people = Member.objects.bulk_create(people, batch_size=1000)
    spells, bases = [], {}
    for n, person in enumerate(people):
        eligible = n < ELIGIBLE
        base = BASES[n % len(BASES)]
        spells.append(Enrollment(
            member=person, effective_from=date(2020, 1, 1), employment_status="in_service",
            scheme="combined" if eligible else "pooled_only", contribution_base=base,
        ))
        if eligible:
            bases[person.pk] = base
    Enrollment.objects.bulk_create(spells, batch_size=1000)
    return bases


def _expected_amounts(bases: set[Decimal]) -> dict[Decimal, Decimal]:
    """The pure calculator's monthly credit for each contribution base."""
    _, plan, missing = credit_plan_for(region="zaozhuang", month=MONTH)
    assert not missing
    amounts = {}
    for base in bases:
        facts = account_credits.MemberFacts(birth_date=BORN, spells=(account_credits.Spell(
            effective_from=date(2020, 1, 1), employment_status="in_service", contribution_base=base),))
        amounts[base] = account_credits.member_credits(plan, facts).credits[account_credits.MONTHLY_CREDIT]
    return amounts


def _credited() -> int:
    return LedgerEntry.objects.filter(kind="monthly_credit", period=MONTH).count()


def _enqueue_the_month(broker_port: int) -> None:
    """Publish the month's credit task as beat does: by name, to the broker (a client of its own,
    since the tests' Celery app runs tasks in-process)."""
    client = Celery("gongji-fault-test", broker=f"redis://127.0.0.1:{broker_port}/0", set_as_current=False)
    try:
        client.send_task("members.credit_month", kwargs={"month": f"{MONTH:%Y-%m}", "chunk_size": CHUNK_SIZE})
    finally:
        client.close()


def test_a_worker_killed_mid_run_is_finished_by_running_the_month_again(real_services, settings):
    processes = real_services
    use_region(settings, "zaozhuang")
    bases = _members()
    amounts = _expected_amounts(set(bases.values()))
    assert amounts[Decimal("4000.25")] == Decimal("80.01")  # the calculator rounds half up, once

    port = free_port()
    processes.redis(port)
    env = processes.django_env(port, REGION="zaozhuang")
    first = processes.worker("worker-1", env)
    wait_until_consuming(processes, "worker-1")
    _enqueue_the_month(port)

    # Kill the worker (its main process and pool, at once: SIGKILL, no warm shutdown) once it has
    # credited a tenth of the members.
    wait_for(lambda: _credited() >= ELIGIBLE // 10, timeout=60, interval=0.01,
             what=f"the first chunks to be credited\n{processes.logs_tail()}")
    processes.kill(first)
    credited_before = _credited()
    assert 0 < credited_before < ELIGIBLE, "the worker must die in the middle of the run"
    killed = CreditRun.objects.get()
    assert killed.status == CreditRun.Status.RUNNING
    assert killed.chunks_done < killed.chunks_total
    assert killed.members_credited == credited_before  # each chunk committed whole or not at all

    # A new worker, and the month run again (as beat or an operator would).
    processes.worker("worker-2", env)
    wait_until_consuming(processes, "worker-2")
    _enqueue_the_month(port)
    rerun = wait_for(
        lambda: CreditRun.objects.exclude(pk=killed.pk).filter(status=CreditRun.Status.COMPLETED).first(),
        timeout=60, interval=0.1, what=f"the re-run to complete\n{processes.logs_tail()}",
    )
    # The killed run's chunks still queued when its worker died are taken by the new worker too
    # (they credit whoever is still due, as the re-run does): wait until the two runs together
    # account for every eligible member.
    wait_for(lambda: sum(CreditRun.objects.values_list("members_credited", flat=True)) >= ELIGIBLE, timeout=20,
             what="the runs to account for every eligible member")

    # Exactly one credit per eligible member for the month, of the calculator's amount.
    entries = LedgerEntry.objects.filter(kind="monthly_credit", period=MONTH)
    assert entries.values("account_id").annotate(n=Count("id")).filter(n__gt=1).count() == 0
    credited = dict(entries.values_list("account__member_id", "amount"))
    assert set(credited) == set(bases)
    for member_id, amount in credited.items():
        assert amount == amounts[bases[member_id]], member_id
    assert not LedgerEntry.objects.exclude(kind="monthly_credit").exists()  # no subsidy in this set
    # Balances are the sums of the ledger entries; the pooled-only members have no account.
    assert PersonalAccount.objects.count() == ELIGIBLE
    sums = dict(LedgerEntry.objects.values("account_id").annotate(total=Sum("amount")).values_list("account_id", "total"))
    for account_id, balance in PersonalAccount.objects.values_list("id", "balance"):
        assert balance == sums[account_id], account_id

    # The runs tell the story: the killed run superseded by the re-run, which completed; together
    # they credited every eligible member once, and skipped the pooled-only ones.
    killed.refresh_from_db()
    rerun.refresh_from_db()
    assert CreditRun.objects.count() == 2
    assert rerun.chunks_done == rerun.chunks_total
    assert killed.members_credited + rerun.members_credited == ELIGIBLE
    assert rerun.members_credited + rerun.skipped.get("already_credited", 0) == ELIGIBLE
    assert rerun.skipped.get("pooled_only") == POOLED_ONLY
    assert killed.total + rerun.total == sum(amounts[base] for base in bases.values())
    # The chunks the killed worker was holding are lost to it (unacknowledged, the broker hands
    # them out again only after its visibility timeout), so it cannot finish by itself: the
    # re-run marks it interrupted. Only if all of them had committed just before the kill could
    # the new worker have completed it before the re-run started.
    assert killed.status == CreditRun.Status.INTERRUPTED or (
        killed.status == CreditRun.Status.COMPLETED and killed.chunks_done == killed.chunks_total
    ), (killed.status, killed.chunks_done, killed.chunks_total)

    # Once more, by the command: nothing is credited twice.
    call_command("run_monthly_credits", "--month", f"{MONTH:%Y-%m}", "--chunk-size", "1000")
    third = CreditRun.objects.order_by("-pk").first()
    assert third.status == CreditRun.Status.COMPLETED
    assert third.members_credited == 0
    assert third.skipped == {"already_credited": ELIGIBLE, "pooled_only": POOLED_ONLY}
    assert _credited() == ELIGIBLE
