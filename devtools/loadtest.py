"""Settlement load through the real HTTP stack, shared by `bench_settlement` and the fault tests
(tests/faults): prepare data in the configured database, start gunicorn on a database, wait for
it, and the request bodies of a load. Nothing here runs in the web processes."""

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.db import transaction

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "claims" / "policies"
LOAD_PROVIDER_PREFIX = "H3799"
LOAD_BORN = date(1975, 6, 15)
OPENING_BALANCE = Decimal("1000000.00")
FIRST_VISIT = date(2023, 1, 2)


def load_member_ids(count: int) -> list[str]:
    """The identity numbers of the load's members (the same ones every time)."""
    from core.idnumber import make_id_number

    return [make_id_number(f"{379900 + n // 1000:06d}", LOAD_BORN, n % 1000) for n in range(count)]


def load_data_prepare(*, providers: int, members: int) -> tuple[list[str], list[str]]:
    """Members with accounts (opening balance in the ledger), providers with API users and
    tokens, the two catalog items and the Zaozhuang policy. Returns (tokens, member id numbers);
    running it again adds only what is missing."""
    from claims.models import PolicyVersion
    from claims.policy_services import policy_load

    if not PolicyVersion.objects.filter(region="zaozhuang").exists():
        policy_load(data=json.loads((PRESETS / "zaozhuang.json").read_text(encoding="utf-8")))
    return _members_and_providers(providers, members)


@transaction.atomic
def _members_and_providers(providers: int, members: int) -> tuple[list[str], list[str]]:
    from django.contrib.auth import get_user_model

    from claims.models import CatalogItem
    from core.tokens import new_key, token_row
    from members.models import Enrollment, LedgerEntry, Member, PersonalAccount
    from pharmacies.models import Provider, ProviderStaff

    CatalogItem.objects.get_or_create(
        code="A-DRUG", defaults={"name": "甲类药", "kind": "drug", "item_class": "A", "list_price": Decimal("10.00")}
    )
    CatalogItem.objects.get_or_create(
        code="B-DRUG", defaults={"name": "乙类药", "kind": "drug", "item_class": "B", "prepay_percent": Decimal("10"), "list_price": Decimal("50.00")}
    )
    ids = load_member_ids(members)
    existing = set(Member.objects.filter(id_number__in=ids).values_list("id_number", flat=True))
    new = [Member(id_number=i, name=f"压测{n}", birth_date=LOAD_BORN, sex="M" if int(i[16]) % 2 else "F") for n, i in enumerate(ids) if i not in existing]
    if new:
        Member.objects.bulk_create(new, batch_size=1000)
        created = list(Member.objects.filter(id_number__in=[m.id_number for m in new]))
        Enrollment.objects.bulk_create(
            [Enrollment(member=m, effective_from=date(2020, 1, 1), employment_status="in_service", scheme="combined", contribution_base=Decimal("6000.00")) for m in created],
            batch_size=1000,
        )
        accounts = PersonalAccount.objects.bulk_create(
            [PersonalAccount(member=m, opened_on=date(2020, 1, 1), balance=OPENING_BALANCE) for m in created], batch_size=1000
        )
        LedgerEntry.objects.bulk_create(
            [LedgerEntry(account=a, kind=LedgerEntry.Kind.OPENING_BALANCE, amount=OPENING_BALANCE, balance_after=OPENING_BALANCE, reference="bench") for a in accounts],
            batch_size=1000,
        )
    tokens = []
    for n in range(providers):
        code = f"{LOAD_PROVIDER_PREFIX}{n:07d}"
        provider, _ = Provider.objects.get_or_create(
            code=code, defaults={"name": f"压测机构{n}", "kind": "institution", "level": ["level_1", "level_2", "level_3"][n % 3]}
        )
        user, made = get_user_model().objects.get_or_create(username=f"bench-{code}")
        if made:
            user.set_unusable_password()
            user.save()
        ProviderStaff.objects.get_or_create(user=user, defaults={"provider": provider})
        # A fresh token per run (only digests are stored, an old key cannot be read back).
        key = new_key()
        token_row(user=user, key=key).save()
        tokens.append(key)
    return tokens, ids


# The benefit a load settles: outpatient pooling with the account paying the rest, or an
# account-only sale (CONTRACT.md "Account-only settlement"). The JSON fields that differ.
MIX_FIELDS = {
    "pooling": {"use_account": True},
    "account": {"benefit": "personal_account"},
}


def settlement_body(members: list[str], n: int, k: int, external_ref: str, mix: str = "pooling") -> dict:
    """The n-th visit of client k: spread over the members and over 2023's first 300 days."""
    return {
        **MIX_FIELDS[mix],
        "member_id_number": members[(n * 7919 + k) % len(members)],
        "visit_date": (FIRST_VISIT + timedelta(days=n % 300)).isoformat(),
        "external_ref": external_ref,
        "items": [{"code": "A-DRUG", "quantity": "3"}, {"code": "B-DRUG", "quantity": "1"}],
    }


def database_url(db: dict) -> str:
    """A DATABASES entry (PostgreSQL) as a URL for another process."""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def gunicorn_start(*, port: int, workers: int, database_url: str, settings_module: str = "config.settings.development",
                   env: dict | None = None, config: str | None = None, log=None) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:PORT in its own process group (stop it with os.killpg)."""
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
    if gunicorn is None:
        raise RuntimeError("gunicorn is not installed (pip install gunicorn)")
    environment = {
        **os.environ,
        "REGION": "zaozhuang",
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "DB_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        # The load's visits are dated from FIRST_VISIT (2023), before any settlement window.
        "SETTLEMENT_WINDOW_DAYS": "0",
        **(env or {}),
    }
    command = [gunicorn, "config.wsgi:application"]
    if config:
        command += ["-c", config]
    command += ["-b", f"127.0.0.1:{port}", "-w", str(workers), "--backlog", "2048", "--log-level", "warning"]
    return subprocess.Popen(command, cwd=str(ROOT), env=environment, start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT if log else None)


def gunicorn_wait_ready(port: int, token: str, *, timeout: float = 60, server: subprocess.Popen | None = None) -> None:
    """Poll until the API answers the provider's `GET /api/v1/providers/me` with 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/providers/me", headers={"Authorization": f"Token {token}"})
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"gunicorn did not answer within {timeout:.0f} s")
