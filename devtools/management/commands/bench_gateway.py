"""bench_gateway: a 2207 through the national-interface gateway against a REST settlement of
the same visit, in the same run (goal: the gateway costs at most 1.2× REST).

In-process, through Django's whole request stack (middleware, token authentication, the view),
one request at a time, against the configured database (PostgreSQL for figures worth quoting).
It prepares the load data of bench_settlement (members with accounts, a provider with a token,
the catalog, the Zaozhuang policy), signs in once (9001) and opens VISITS visits through 2201
and 2204 (not timed: a HIS does those while the patient is being seen). Then it times VISITS
REST settlements and VISITS 2207s, alternating one and the other so that both see the same
machine, each visit of its own member and the same two lines (3 × A-DRUG, 1 × B-DRUG), and
prints the mean and the median of each and their ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gongji_bench python manage.py bench_gateway --visits 300
(on a database marked with `bench_database --mark`, as every benchmark).
"""

import json
import statistics
import time
import uuid
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.test import Client
from django.utils import timezone

from devtools.guard import require_bench_database
from devtools.loadtest import load_data_prepare


class Command(BaseCommand):
    help = "Times a 2207 through the gateway against a REST settlement of the same visit (goal ≤ 1.2×)."

    def add_arguments(self, parser):
        parser.add_argument("--visits", type=int, default=300)
        parser.add_argument("--warmup", type=int, default=20)

    def handle(self, *args, visits: int, warmup: int, **options):
        require_bench_database()
        total = visits + warmup
        tokens, members = load_data_prepare(providers=1, members=2 * total)
        token = tokens[0]
        from core.models import ApiToken
        from core.tokens import key_digest

        provider = ApiToken.objects.select_related("user__provider_staff__provider").get(digest=key_digest(token)).user.provider_staff.provider
        from members.models import Member

        psn = dict(Member.objects.filter(id_number__in=members).values_list("id_number", "pk"))
        client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
        run = uuid.uuid4().hex[:8]
        counter = iter(range(1, 10**9))

        def envelope(infno: str, data: dict, sign_no: str | None = None) -> str:
            return json.dumps({
                "infno": infno, "msgid": f"B{run}{next(counter):012d}", "mdtrtarea_admvs": "370400", "insuplc_admdvs": "370400",
                "recer_sys_code": "MBS_LOCAL", "infver": "V1.0", "opter_type": "1", "opter": "bench", "opter_name": "bench",
                "inf_time": timezone.localtime().strftime("%Y-%m-%d %H:%M:%S"), "fixmedins_code": provider.code,
                "fixmedins_name": provider.name, "sign_no": sign_no, "input": data,
            }, ensure_ascii=False)

        def nhsa(infno: str, data: dict, sign_no: str | None = None) -> dict:
            response = client.post("/api/nhsa/", data=envelope(infno, data, sign_no), content_type="application/json")
            answer = json.loads(response.content)
            if answer.get("infcode") != 0:
                raise RuntimeError(f"{infno}: {answer}")
            return answer["output"]

        sign_no = nhsa("9001", {"signIn": {"opter_no": "bench", "mac": "", "ip": "127.0.0.1"}})["signinoutb"]["sign_no"]
        # Yesterday: a visit must fall in the settlement window (and the policy in force).
        day = (timezone.localdate() - timedelta(days=1)).strftime("%Y-%m-%d 09:00:00")
        lines = [("A-DRUG", "3", "10.00"), ("B-DRUG", "1", "50.00")]
        gateway_members, rest_members = members[:total], members[total:2 * total]
        opened = []
        self.stdout.write(f"opening {total} visits through 2201 and 2204 …")
        for id_number in gateway_members:
            psn_no = str(psn[id_number])
            mdtrt_id = nhsa("2201", {"data": {"psn_no": psn_no, "insutype": "310", "begntime": day, "mdtrt_cert_type": "02",
                                              "mdtrt_cert_no": id_number}}, sign_no)["data"]["mdtrt_id"]
            nhsa("2204", {"feedetail": [
                {"feedetl_sn": str(n), "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": "1", "med_list_codg": code,
                 "cnt": cnt, "pric": pric, "det_item_fee_sumamt": f"{Decimal(cnt) * Decimal(pric):.2f}"}
                for n, (code, cnt, pric) in enumerate(lines, start=1)]}, sign_no)
            opened.append((id_number, psn_no, mdtrt_id))
        total_fee = f"{sum(Decimal(cnt) * Decimal(pric) for _c, cnt, pric in lines):.2f}"

        rest_times, gateway_times = [], []
        for n in range(total):
            id_number, psn_no, mdtrt_id = opened[n]
            body = json.dumps({"member_id_number": rest_members[n], "visit_date": day[:10], "external_ref": f"B{run}-{n}",
                               "use_account": True, "items": [{"code": c, "quantity": q, "unit_price": p} for c, q, p in lines]})
            started = time.perf_counter()
            response = client.post("/api/v1/settlements", data=body, content_type="application/json")
            elapsed = time.perf_counter() - started
            if response.status_code != 201:
                raise RuntimeError(f"REST: {response.status_code} {response.content[:300]!r}")
            if n >= warmup:
                rest_times.append(elapsed)
            data = envelope("2207", {"data": {"psn_no": psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": id_number, "med_type": "11",
                                              "medfee_sumamt": total_fee, "psn_setlway": "01", "mdtrt_id": mdtrt_id, "acct_used_flag": "1",
                                              "insutype": "310"}}, sign_no)
            started = time.perf_counter()
            response = client.post("/api/nhsa/", data=data, content_type="application/json")
            elapsed = time.perf_counter() - started
            if json.loads(response.content).get("infcode") != 0:
                raise RuntimeError(f"2207: {response.content[:300]!r}")
            if n >= warmup:
                gateway_times.append(elapsed)

        def ms(values):
            return statistics.mean(values) * 1000, statistics.median(values) * 1000

        rest_mean, rest_median = ms(rest_times)
        gw_mean, gw_median = ms(gateway_times)
        self.stdout.write(f"REST settlement: mean {rest_mean:.2f} ms, median {rest_median:.2f} ms ({len(rest_times)} settlements)")
        self.stdout.write(f"gateway 2207:    mean {gw_mean:.2f} ms, median {gw_median:.2f} ms ({len(gateway_times)} settlements)")
        self.stdout.write(f"ratio (mean): {gw_mean / rest_mean:.2f}×, ratio (median): {gw_median / rest_median:.2f}× (goal ≤ 1.2×)")
