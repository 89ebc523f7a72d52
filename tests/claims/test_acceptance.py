"""Every worked example of the agency's acceptance cases (settlement_cases.json), settled
through the HTTP API, to the fen. The numbers are copied here: the project never reads the
shared folder at test time. Each case names the article it rests on (its "cite")."""

from datetime import date
from decimal import Decimal

import pytest

from claims.chosen_institutions import chosen_institution_register
from claims.models import Claim
from members.models import Episode, PersonalAccount, Registration

from .conftest import make_member, provider_of_level

# Copied from acceptance/settlement_cases.json (amounts in yuan, ratios in percent).
CASES = [{'id': 'Z1',
  'region': 'zaozhuang',
  'cite': '000 第五条(一)(二)(三)',
  'title': 'cumulative top-up deductible across levels, then the annual cap',
  'member': {'employment': 'in_service', 'scheme': 'combined', 'account_balance': '1000.00'},
  'claims': [{'date': '2023-02-01',
              'provider': 'level_1',
              'items': [['A-DRUG', 30]],
              'use_account': True,
              'expect': {'total': '300.00',
                         'policy_scope': '300.00',
                         'deductible': '200.00',
                         'ratio': 70,
                         'fund': '70.00',
                         'account': '230.00',
                         'cash': '0.00',
                         'balance_after': '770.00'}},
             {'date': '2023-03-01',
              'provider': 'level_3',
              'items': [['A-DRUG', 100]],
              'use_account': True,
              'expect': {'total': '1000.00',
                         'deductible': '600.00',
                         'ratio': 50,
                         'fund': '200.00',
                         'account': '770.00',
                         'cash': '30.00',
                         'balance_after': '0.00'}},
             {'date': '2023-04-01',
              'provider': 'level_2',
              'items': [['A-DRUG', 50]],
              'use_account': True,
              'expect': {'total': '500.00',
                         'deductible': '0.00',
                         'ratio': 60,
                         'fund': '300.00',
                         'account': '0.00',
                         'cash': '200.00'}},
             {'date': '2023-05-01',
              'provider': 'level_1',
              'items': [['A-DRUG', 200]],
              'expect': {'total': '2000.00',
                         'deductible': '0.00',
                         'ratio': 70,
                         'fund': '930.00',
                         'cash': '1070.00'}},
             {'date': '2023-06-01',
              'provider': 'level_1',
              'items': [['A-DRUG', 10]],
              'expect': {'total': '100.00', 'fund': '0.00', 'cash': '100.00'}}],
  'year_after': {'year': 2023, 'deductible_met': '800.00', 'fund_paid': '1500.00', 'cap_remaining': '0.00'}},
 {'id': 'Z2',
  'region': 'zaozhuang',
  'cite': '000 第五条(一)(二)',
  'title': 'retiree; class-B prepay and class-C items are outside policy scope',
  'member': {'employment': 'retired', 'scheme': 'combined'},
  'claims': [{'date': '2023-03-10',
              'provider': 'level_2',
              'items': [['B-DRUG', 4], ['C-DRUG', 1], ['A-DRUG', 10]],
              'expect': {'total': '330.00',
                         'fully_self_paid': '30.00',
                         'class_b_prepay': '20.00',
                         'policy_scope': '280.00',
                         'deductible': '280.00',
                         'ratio': 65,
                         'fund': '0.00',
                         'cash': '330.00'}},
             {'date': '2023-03-20',
              'provider': 'level_2',
              'items': [['A-DRUG', 50]],
              'expect': {'total': '500.00',
                         'deductible': '120.00',
                         'ratio': 65,
                         'fund': '247.00',
                         'cash': '253.00'}}]},
 {'id': 'Z3',
  'region': 'zaozhuang',
  'cite': '000 第六条',
  'title': 'temporary visit: the member first pays 10% of the policy-scope amount',
  'member': {'employment': 'in_service', 'scheme': 'combined'},
  'claims': [{'date': '2023-04-01',
              'provider': 'level_3',
              'items': [['A-DRUG', 80]],
              'expect': {'total': '800.00', 'deductible': '800.00', 'fund': '0.00'}},
             {'date': '2023-04-15',
              'provider': 'level_3',
              'visit_place': 'in_province',
              'items': [['A-DRUG', 100]],
              'expect': {'total': '1000.00',
                         'policy_scope': '1000.00',
                         'temporary_visit_prepay': '100.00',
                         'deductible': '0.00',
                         'ratio': 50,
                         'fund': '450.00',
                         'cash': '550.00'}}]},
 {'id': 'Z4',
  'region': 'zaozhuang',
  'cite': '000 第六条',
  'title': 'registered long-term resident elsewhere is treated as local',
  'member': {'employment': 'in_service',
             'scheme': 'combined',
             'long_term_residence_elsewhere': {'from': '2023-01-01', 'place': 'out_of_province'}},
  'claims': [{'date': '2023-04-01',
              'provider': 'level_3',
              'visit_place': 'out_of_province',
              'items': [['A-DRUG', 100]],
              'expect': {'total': '1000.00',
                         'temporary_visit_prepay': '0.00',
                         'deductible': '800.00',
                         'ratio': 50,
                         'fund': '100.00'}}]},
 {'id': 'Z5',
  'region': 'zaozhuang',
  'cite': '000 第十一条',
  'title': 'no outpatient pooling during an inpatient stay',
  'member': {'employment': 'in_service',
             'scheme': 'combined',
             'episodes': [{'kind': 'inpatient_stay', 'from': '2023-05-01', 'to': '2023-05-10'}]},
  'claims': [{'date': '2023-05-05',
              'provider': 'level_1',
              'items': [['A-DRUG', 30]],
              'expect': {'total': '300.00',
                         'deductible': '0.00',
                         'fund': '0.00',
                         'cash': '300.00',
                         'denied_reason': 'inpatient_stay'}},
             {'date': '2023-05-11',
              'provider': 'level_1',
              'items': [['A-DRUG', 30]],
              'expect': {'deductible': '200.00', 'fund': '70.00'}}]},
 {'id': 'Z6',
  'region': 'zaozhuang',
  'cite': '000 第十一条',
  'title': 'long-term-care home care keeps outpatient pooling; medical special care switches it off',
  'member': {'employment': 'in_service',
             'scheme': 'combined',
             'episodes': [{'kind': 'ltc_home_care', 'from': '2023-06-01', 'to': '2023-06-30'},
                          {'kind': 'ltc_medical_care', 'from': '2023-07-01', 'to': '2023-07-31'}]},
  'claims': [{'date': '2023-06-10',
              'provider': 'level_1',
              'items': [['A-DRUG', 30]],
              'expect': {'deductible': '200.00', 'fund': '70.00'}},
             {'date': '2023-07-10',
              'provider': 'level_1',
              'items': [['A-DRUG', 30]],
              'expect': {'fund': '0.00', 'denied_reason': 'ltc_medical_care'}}]},
 {'id': 'Z7',
  'region': 'zaozhuang',
  'cite': '000 第五条; 第十一条 (统一支付范围)',
  'title': 'price above the payment standard is over-limit self-pay',
  'member': {'employment': 'in_service', 'scheme': 'combined'},
  'claims': [{'date': '2023-08-01',
              'provider': 'level_1',
              'items': [['A-SVC', 2, '25.00']],
              'expect': {'total': '50.00',
                         'over_limit': '10.00',
                         'policy_scope': '40.00',
                         'deductible': '40.00',
                         'fund': '0.00'}},
             {'date': '2023-08-02',
              'provider': 'level_1',
              'items': [['A-DRUG', 30]],
              'expect': {'deductible': '160.00', 'ratio': 70, 'fund': '98.00'}}]},
 {'id': 'Y1',
  'region': 'ziyang',
  'cite': '001 第八条(一), 第十四条',
  'title': 'retiree: deductible 150, +10 points, pharmacy at the level-3 ratio',
  'member': {'employment': 'retired', 'scheme': 'combined'},
  'claims': [{'date': '2023-02-01',
              'provider': 'level_3',
              'items': [['A-DRUG', 100]],
              'expect': {'total': '1000.00', 'deductible': '150.00', 'ratio': 60, 'fund': '510.00'}},
             {'date': '2023-02-15',
              'provider': 'pharmacy',
              'items': [['A-DRUG', 50]],
              'expect': {'total': '500.00', 'deductible': '0.00', 'ratio': 60, 'fund': '300.00'}}]},
 {'id': 'Y2',
  'region': 'ziyang',
  'cite': '001 第五条(三), 第八条(一)',
  'title': 'pooled-only member: cap 800 and no personal account',
  'member': {'employment': 'in_service', 'scheme': 'pooled_only'},
  'claims': [{'date': '2023-02-01',
              'provider': 'level_2',
              'items': [['A-DRUG', 200]],
              'use_account': True,
              'expect': {'total': '2000.00',
                         'deductible': '200.00',
                         'ratio': 60,
                         'fund': '800.00',
                         'account': '0.00',
                         'cash': '1200.00'}}]},
 {'id': 'Y3',
  'region': 'ziyang',
  'cite': '001 第八条(一)',
  'title': 'in-service combined member at level 2',
  'member': {'employment': 'in_service', 'scheme': 'combined'},
  'claims': [{'date': '2023-03-01',
              'provider': 'level_2',
              'items': [['A-DRUG', 30]],
              'expect': {'deductible': '200.00', 'ratio': 60, 'fund': '60.00'}}]},
 {'id': 'H1',
  'region': 'henan',
  'cite': '002 二、第三章',
  'title': 'per-visit deductible of 40, none at community and township centres',
  'member': {'employment': 'in_service', 'scheme': 'combined'},
  'claims': [{'date': '2023-03-01',
              'provider': 'provincial_tertiary_a',
              'items': [['A-DRUG', 10]],
              'expect': {'deductible': '40.00', 'ratio': 55, 'fund': '33.00'}},
             {'date': '2023-03-02',
              'provider': 'community_health_centre',
              'items': [['A-DRUG', 10]],
              'expect': {'deductible': '0.00', 'ratio': 70, 'fund': '70.00'}},
             {'date': '2023-03-03',
              'provider': 'level_2',
              'items': [['A-DRUG', 10]],
              'expect': {'deductible': '40.00', 'ratio': 60, 'fund': '36.00'}}]},
 {'id': 'H2',
  'region': 'henan',
  'cite': '002 二、第三章',
  'title': 'retiree +10 points',
  'member': {'employment': 'retired', 'scheme': 'combined'},
  'claims': [{'date': '2023-03-01',
              'provider': 'level_2',
              'items': [['A-DRUG', 10]],
              'expect': {'deductible': '40.00', 'ratio': 70, 'fund': '42.00'}}]},
 {'id': 'H3',
  'region': 'henan',
  'cite': '002 二、第三章 (实施当年最高支付限额减半)',
  'title': 'first implementation year halves the cap (reading: the policy starts 2022-07-01)',
  'member': {'employment': 'in_service', 'scheme': 'combined'},
  'claims': [{'date': '2022-09-01',
              'provider': 'township_health_centre',
              'items': [['A-DRUG', 120]],
              'expect': {'total': '1200.00', 'deductible': '0.00', 'ratio': 70, 'fund': '750.00'}}]},
 {'id': 'J1',
  'region': 'jinan',
  'cite': '004 (二)',
  'title': 'pre-1949 veteran retiree: +5 over in-service in 2023, +5 over retirees from 2024',
  'configure': {'deductible_annual': '500.00'},
  'member': {'employment': 'retired', 'scheme': 'combined', 'pre_1949_veteran': True},
  'claims': [{'date': '2023-03-01',
              'provider': 'level_3',
              'items': [['A-DRUG', 100]],
              'expect': {'deductible': '500.00', 'ratio': 55, 'fund': '275.00'}},
             {'date': '2024-03-01',
              'provider': 'level_3',
              'items': [['A-DRUG', 100]],
              'expect': {'deductible': '500.00', 'ratio': 60, 'fund': '300.00'}}]},
 {'id': 'J2',
  'region': 'jinan',
  'cite': '004 (二)',
  'title': 'retiree: no bonus in 2023, +5 from 2024',
  'configure': {'deductible_annual': '500.00'},
  'member': {'employment': 'retired', 'scheme': 'combined'},
  'claims': [{'date': '2023-03-01',
              'provider': 'level_2',
              'items': [['A-DRUG', 100]],
              'expect': {'deductible': '500.00', 'ratio': 70, 'fund': '350.00'}},
             {'date': '2024-03-01',
              'provider': 'level_2',
              'items': [['A-DRUG', 100]],
              'expect': {'deductible': '500.00', 'ratio': 75, 'fund': '375.00'}}]},
 {'id': 'J3',
  'region': 'jinan',
  'cite': '004 (五)',
  'title': 'temporary visit out of province: ratio -10 points; in province: unchanged',
  'configure': {'deductible_annual': '500.00'},
  'member': {'employment': 'in_service', 'scheme': 'combined'},
  'claims': [{'date': '2024-04-01',
              'provider': 'level_3',
              'visit_place': 'out_of_province',
              'items': [['A-DRUG', 100]],
              'expect': {'deductible': '500.00', 'ratio': 40, 'fund': '200.00'}},
             {'date': '2024-04-02',
              'provider': 'level_3',
              'visit_place': 'in_province',
              'items': [['A-DRUG', 100]],
              'expect': {'deductible': '0.00', 'ratio': 50, 'fund': '500.00'}}]},
 {'id': 'J4',
  'region': 'jinan',
  'cite': '004 (三)',
  'title': 'annual cap 4500 in 2023, 6000 from 2024',
  'configure': {'deductible_annual': '500.00'},
  'member': {'employment': 'in_service', 'scheme': 'combined'},
  'claims': [{'date': '2023-05-01',
              'provider': 'level_1',
              'items': [['A-DRUG', 1000]],
              'expect': {'total': '10000.00', 'deductible': '500.00', 'ratio': 70, 'fund': '4500.00'}},
             {'date': '2024-05-01',
              'provider': 'level_1',
              'items': [['A-DRUG', 1000]],
              'expect': {'total': '10000.00', 'deductible': '500.00', 'ratio': 70, 'fund': '6000.00'}}]},
 {'id': 'G1',
  'region': 'yangzhou',
  'cite': '003 二(一)2',
  'title': 'deductible and cap derived from the 2021 average wage; retiree +10 points',
  'configure': {'average_wage_2021': '90000.00',
                'deductible_percent_of_wage': 1,
                'cap_percent_of_wage': 8,
                'ratio_in_service': {'level_1': 70, 'level_2': 65, 'level_3': 60}},
  'member': {'employment': 'retired', 'scheme': 'combined'},
  'claims': [{'date': '2023-05-01',
              'provider': 'level_2',
              'items': [['A-DRUG', 200]],
              'expect': {'deductible': '900.00', 'ratio': 75, 'fund': '825.00'}},
             {'date': '2023-06-01',
              'provider': 'level_1',
              'items': [['A-DRUG', 1000]],
              'expect': {'deductible': '0.00', 'ratio': 80, 'fund': '6375.00'}}],
  'year_after': {'year': 2023, 'fund_paid': '7200.00', 'cap_remaining': '0.00'}},
 {'id': 'G2',
  'region': 'yangzhou',
  'cite': '003 二(一)4',
  'title': "external prescription at a pharmacy takes the prescribing institution's ratio",
  'configure': {'average_wage_2021': '90000.00',
                'deductible_percent_of_wage': 1,
                'cap_percent_of_wage': 8,
                'ratio_in_service': {'level_1': 70, 'level_2': 65, 'level_3': 60}},
  'member': {'employment': 'in_service', 'scheme': 'combined'},
  'claims': [{'date': '2023-05-01',
              'provider': 'pharmacy',
              'prescribed_at': 'level_3',
              'items': [['A-DRUG', 200]],
              'expect': {'deductible': '900.00', 'ratio': 60, 'fund': '660.00'}}]},
 {'id': 'R1',
  'region': 'zaozhuang',
  'cite': '000 第十五条',
  'title': 'a repeated request is answered with the first result; a reversal restores everything',
  'member': {'employment': 'in_service', 'scheme': 'combined', 'account_balance': '500.00'},
  'claims': [{'date': '2023-02-01',
              'provider': 'level_1',
              'items': [['A-DRUG', 30]],
              'use_account': True,
              'external_ref': 'HIS-0001',
              'expect': {'deductible': '200.00',
                         'fund': '70.00',
                         'account': '230.00',
                         'balance_after': '270.00'}},
             {'repeat_of': 'HIS-0001',
              'expect': {'same_response': True, 'settlements_for_member': 1, 'balance': '270.00'}},
             {'reverse': 'HIS-0001',
              'expect': {'balance': '500.00', 'year': {'deductible_met': '0.00', 'fund_paid': '0.00'}}},
             {'date': '2023-02-02',
              'provider': 'level_1',
              'items': [['A-DRUG', 30]],
              'use_account': True,
              'external_ref': 'HIS-0002',
              'expect': {'deductible': '200.00',
                         'fund': '70.00',
                         'account': '230.00',
                         'balance_after': '270.00'}}]}]

# The worked cases assume a covered visit. Under Jinan (四) until 2023-12-31 outpatient pooling
# pays only at the member's chosen institutions: the harness registers each local institution
# a case visits as the member's chosen one (from the case's first day), with the number the
# agency allows (its parameter) set high enough. The cases' own numbers are unchanged.
HARNESS_CONFIGURE = {"jinan": {"chosen_max_count": 5}}

ITEM_PRICES = {"A-DRUG": None, "B-DRUG": None, "C-DRUG": None}  # listed prices come from the catalog


def _items(items):
    result = []
    for entry in items:
        code, quantity = entry[0], entry[1]
        item = {"code": code, "quantity": str(quantity)}
        if len(entry) > 2:
            item["unit_price"] = entry[2]
        result.append(item)
    return result


class Runner:
    def __init__(self, case, member, provider_client, platform_client):
        self.case, self.member = case, member
        self.provider_client, self.platform_client = provider_client, platform_client
        self.providers, self.clients, self.sent = {}, {}, {}
        self.serial = 0

    def client_and_body(self, claim):
        level = claim["provider"]
        place = claim.get("visit_place", "local")
        self.serial += 1
        body = {
            "member_id_number": self.member.id_number,
            "visit_date": claim["date"],
            "external_ref": claim.get("external_ref", f"{self.case['id']}-{self.serial}"),
            "benefit": "outpatient_pooling",
            "visit_place": place,
            "use_account": bool(claim.get("use_account", False)),
            "items": _items(claim["items"]),
        }
        if place != "local":
            # A visit outside the region arrives from the cross-region platform (CONTRACT.md).
            body.update(provider_level=level, remote_provider_code="H11010500001", remote_provider_name="北京某医院")
            return self.platform_client, body
        key = (level, claim.get("prescribed_at"))
        if key not in self.clients:
            provider = provider_of_level(level)
            self.clients[key] = (self.provider_client(provider), provider)
            if self.case["region"] in HARNESS_CONFIGURE and provider.kind == "institution":
                chosen_institution_register(user=None, member=self.member, provider=provider, valid_from=date(2023, 1, 1))
        client, _ = self.clients[key]
        if claim.get("prescribed_at"):
            prescriber = provider_of_level(claim["prescribed_at"])
            body["prescribed_by_code"] = prescriber.code
        return client, body

    def settle(self, claim):
        client, body = self.client_and_body(claim)
        response = client.post("/api/v1/settlements", body, format="json")
        assert response.status_code == 201, response.json()
        self.sent[body["external_ref"]] = (client, body, response.json())
        return response.json()


def _check(expect: dict, got: dict, where: str):
    for key, value in expect.items():
        if key == "ratio":
            assert Decimal(got["ratio"]) == Decimal(value), f"{where}: ratio {got['ratio']} != {value}"
        else:
            assert got[key] == value, f"{where}: {key} {got[key]} != {value}"


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_acceptance_case_through_the_api(case, catalog, region, provider_client, platform_client, client):
    """The case's article is in case["cite"] (e.g. Zaozhuang 000 第五条(一)(二)(三))."""
    region(case["region"], **case.get("configure", {}), **HARNESS_CONFIGURE.get(case["region"], {}))
    spec = case["member"]
    member = make_member(
        employment=spec["employment"], scheme=spec["scheme"], balance=spec.get("account_balance"),
        veteran=spec.get("pre_1949_veteran", False),
    )
    if "long_term_residence_elsewhere" in spec:
        residence = spec["long_term_residence_elsewhere"]
        Registration.objects.create(member=member, place=residence["place"], valid_from=residence["from"])
    for episode in spec.get("episodes", []):
        Episode.objects.create(member=member, kind=episode["kind"], start_date=episode["from"], end_date=episode["to"])
    runner = Runner(case, member, provider_client, platform_client)

    for index, claim in enumerate(case["claims"]):
        where = f"{case['id']} claim {index}"
        expect = claim["expect"]
        if "repeat_of" in claim:
            client, body, first = runner.sent[claim["repeat_of"]]
            again = client.post("/api/v1/settlements", body, format="json")
            assert again.status_code == 200
            if expect.get("same_response"):
                assert again.json() == first
            assert Claim.objects.filter(member=member).count() == expect["settlements_for_member"]
            assert PersonalAccount.objects.get(member=member).balance == Decimal(expect["balance"])
        elif "reverse" in claim:
            client, body, first = runner.sent[claim["reverse"]]
            reversal = client.post(f"/api/v1/settlements/{first['settlement_id']}/reverse", {"reason": "测试撤销"}, format="json")
            assert reversal.status_code == 200, reversal.json()
            assert PersonalAccount.objects.get(member=member).balance == Decimal(expect["balance"])
            year = client.get(f"/api/v1/members/{member.id_number}/benefits?year={body['visit_date'][:4]}").json()
            _check(expect["year"], year, where)
        else:
            got = runner.settle(claim)
            _check(expect, got, where)
            # Every response adds up (README conventions).
            total = Decimal(got["total"])
            assert Decimal(got["policy_scope"]) == total - Decimal(got["fully_self_paid"]) - Decimal(got["over_limit"]) - Decimal(got["class_b_prepay"])
            assert Decimal(got["personal_burden"]) == total - Decimal(got["fund"]) - Decimal(got["large_expense_subsidy"])
            assert Decimal(got["cash"]) == Decimal(got["personal_burden"]) - Decimal(got["account"]) - Decimal(got["family_account"])

    if "year_after" in case:
        after = case["year_after"]
        client = next(iter(runner.clients.values()))[0]
        year = client.get(f"/api/v1/members/{member.id_number}/benefits?year={after['year']}")
        assert year.status_code == 200
        _check({key: value for key, value in after.items() if key != "year"}, year.json(), f"{case['id']} year")
