"""Fixtures for the national-interface gateway: a signed-in HIS client per provider."""

import itertools
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from gateway.wire import loads
from pharmacies.models import ProviderStaff
from tests.claims.conftest import catalog, make_member, provider_client, region  # noqa: F401 (fixtures)
from tests.factories import ProviderFactory, UserFactory, api_key

_SEQUENCE = itertools.count(1)


class His:
    """A provider's HIS: sends envelopes to /api/nhsa/ as the national interface has them."""

    def __init__(self, provider, client: APIClient):
        self.provider = provider
        self.client = client
        self.sign_no = None
        self.last_msgid = None

    def msgid(self) -> str:
        return f"{self.provider.code}{'20261203090000'}{next(_SEQUENCE):04d}"[:30]

    def envelope(self, infno: str, data: dict, *, msgid: str | None = None, **overrides) -> dict:
        envelope = {
            "infno": infno, "msgid": msgid or self.msgid(), "mdtrtarea_admvs": "370400", "insuplc_admdvs": "370400",
            "recer_sys_code": "MBS_LOCAL", "infver": "V1.0", "opter_type": "1", "opter": "001", "opter_name": "收费员甲",
            "inf_time": "2026-12-03 09:00:00", "fixmedins_code": self.provider.code, "fixmedins_name": self.provider.name,
            "sign_no": self.sign_no, "input": data,
        }
        envelope.update(overrides)
        return envelope

    def raw(self, envelope: dict):
        from gateway.wire import dumps

        self.last_msgid = envelope.get("msgid")
        return self.client.post("/api/nhsa/", data=dumps(envelope), content_type="application/json")

    def answer(self, envelope: dict) -> dict:
        response = self.raw(envelope)
        assert response.status_code == 200, response.content
        return loads(response.content)

    def send(self, infno: str, data: dict, **overrides) -> dict:
        response = self.raw(self.envelope(infno, data, **overrides))
        assert response.status_code == 200, response.content
        return loads(response.content)

    def ok(self, infno: str, data: dict, **overrides) -> dict:
        answer = self.send(infno, data, **overrides)
        assert answer["infcode"] == 0, answer["err_msg"]
        assert answer["err_msg"] is None
        return answer["output"]

    def fails(self, infno: str, data: dict, **overrides) -> str:
        answer = self.send(infno, data, **overrides)
        assert answer["infcode"] == -1, answer
        assert answer["err_msg"]
        assert answer["output"] == {}
        return answer["err_msg"]

    def sign_in(self):
        self.sign_no = self.ok("9001", {"signIn": {"opter_no": "001", "mac": "00-1A-2B-3C-4D-5E", "ip": "10.0.0.8"}})["signinoutb"]["sign_no"]
        return self.sign_no


def his_for(provider) -> His:
    user = UserFactory(roles=["定点机构"])
    ProviderStaff.objects.create(user=user, provider=provider)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    return His(provider, client)


@pytest.fixture
def zaozhuang(region, catalog):  # noqa: F811
    region("zaozhuang")
    return catalog


@pytest.fixture
def hospital(db):
    his = his_for(ProviderFactory(kind="institution", level="level_1"))
    his.sign_in()
    return his


@pytest.fixture
def pharmacy(db):
    his = his_for(ProviderFactory(kind="pharmacy"))
    his.sign_in()
    return his


def line(sn: str, code: str, cnt: str, pric: str, **extra) -> dict:
    amount = (Decimal(cnt) * Decimal(pric)).quantize(Decimal("0.01"))
    row = {
        "feedetl_sn": sn, "chrg_bchno": extra.pop("chrg_bchno", "B1"), "rxno": "", "rx_circ_flag": "0",
        "fee_ocur_time": "2023-02-01 09:10:00", "med_list_codg": code, "medins_list_codg": f"HIS-{code}",
        "det_item_fee_sumamt": f"{amount:.2f}", "cnt": cnt, "pric": pric, "bilg_dept_codg": "A01", "bilg_dept_name": "内科",
        "bilg_dr_codg": "D001", "bilg_dr_name": "王医生", "hosp_appr_flag": "1",
    }
    row.update(extra)
    return row
