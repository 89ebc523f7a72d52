"""Input and output shapes of the settlement API (CONTRACT.md); no logic here."""

from rest_framework import serializers

from core.params import bounded_date_serializer_field

from .calculator import IN_PROVINCE, LOCAL, OUT_OF_PROVINCE

MAX_ITEMS = 1000


class ItemInput(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=4)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, allow_null=True)


class SettlementInput(serializers.Serializer):
    member_id_number = serializers.CharField(max_length=32)
    visit_date = bounded_date_serializer_field()
    external_ref = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    benefit = serializers.CharField(max_length=32, required=False, default="outpatient_pooling")
    visit_place = serializers.ChoiceField(choices=[LOCAL, IN_PROVINCE, OUT_OF_PROVINCE], required=False, default=LOCAL)
    provider_level = serializers.CharField(max_length=32, required=False, allow_null=True, allow_blank=True)
    remote_provider_code = serializers.CharField(max_length=32, required=False, allow_null=True, allow_blank=True)
    remote_provider_name = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)
    prescribed_by_code = serializers.CharField(max_length=12, required=False, allow_null=True, allow_blank=True)
    use_account = serializers.BooleanField(required=False, default=False)
    payer_id_number = serializers.CharField(max_length=32, required=False, allow_null=True, allow_blank=True)
    # benefit personal_account: what the treated person's own insurance already paid on this bill.
    other_insurance_paid = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True)
    # Zaozhuang 第十八条: true when the member died in emergency care (settled as one inpatient stay).
    died_in_emergency_care = serializers.BooleanField(required=False, default=False)
    # Jinan (五): the cross-region platform names the place of treatment (six-digit division code).
    treatment_division_code = serializers.RegexField(r"^\d{6}$", required=False, allow_null=True, allow_blank=True)
    disease_code = serializers.CharField(
        max_length=32, required=False, allow_null=True, allow_blank=True,
        help_text='benefit "chronic_special": the disease settled (病种编码)')
    # One visit's lines: a generous bound (an outpatient bill has tens), so that one request
    # cannot make a settlement of unbounded size.
    items = ItemInput(many=True, allow_empty=False, max_length=MAX_ITEMS)


class ReverseInput(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class YearOutput(serializers.Serializer):
    deductible_met = serializers.CharField()
    fund_paid = serializers.CharField()
    cap = serializers.CharField(allow_null=True)
    cap_remaining = serializers.CharField(allow_null=True)
    large_expense_burden = serializers.CharField()
    large_expense_subsidy_paid = serializers.CharField()


class WarningOutput(serializers.Serializer):
    rule = serializers.CharField()
    message = serializers.CharField()
    item = serializers.IntegerField(allow_null=True)


class LineOutput(serializers.Serializer):
    code = serializers.CharField()
    quantity = serializers.CharField()
    unit_price = serializers.CharField()
    amount = serializers.CharField()
    fully_self_paid = serializers.CharField()
    over_limit = serializers.CharField()
    class_b_prepay = serializers.CharField()
    policy_scope = serializers.CharField()
    account_payable = serializers.BooleanField(required=False, help_text="account-only: the account may pay this line")
    cash_reason = serializers.CharField(required=False, allow_null=True, help_text="account-only: not_account_payable")


class ExplanationStep(serializers.Serializer):
    step = serializers.CharField(help_text="lines, temporary, deductible, ratio, cap, subsidy, denied, burden, account, cash")
    text = serializers.CharField(help_text="the step in words (Chinese)")
    article = serializers.CharField(help_text="the policy article it rests on, e.g. 枣庄 第五条(一); may be empty")


class SettlementOutput(serializers.Serializer):
    settlement_id = serializers.IntegerField(required=False, help_text="setl_id (settle only)")
    total = serializers.CharField(help_text="medfee_sumamt 医疗费总额")
    fully_self_paid = serializers.CharField(help_text="fulamt_ownpay_amt 全自费")
    over_limit = serializers.CharField(help_text="overlmt_selfpay 超限价自费")
    class_b_prepay = serializers.CharField(help_text="preselfpay_amt 乙类先行自付")
    policy_scope = serializers.CharField(help_text="inscp_scp_amt 政策范围内费用")
    temporary_visit_prepay = serializers.CharField(help_text="临时外出就医先行自付")
    deductible = serializers.CharField(help_text="act_pay_dedc 本次支付起付线")
    ratio = serializers.CharField(help_text="统筹支付比例 (percent)")
    fund = serializers.CharField(help_text="hifp_pay 统筹基金支付")
    large_expense_subsidy = serializers.CharField(help_text="大额医疗费用补助 二次支付")
    large_expense_subsidy_pending = serializers.CharField(
        required=False, help_text="Jinan (七) with the ratio open: burden above the threshold whose second payment is held for a batch"
    )
    personal_burden = serializers.CharField(help_text="psn_part_amt 个人负担")
    account = serializers.CharField(help_text="acct_pay 个人账户支付")
    family_account = serializers.CharField(help_text="acct_mulaid_pay 家庭共济账户支付")
    cash = serializers.CharField(help_text="psn_cash_pay 个人现金支付")
    balance_after = serializers.CharField(allow_null=True, help_text="balc 账户余额")
    denied_reason = serializers.CharField(allow_null=True)
    year = YearOutput(allow_null=True, help_text="null for an account-only settlement")
    other_insurance_paid = serializers.CharField(required=False, help_text="account-only: paid by the person's own insurance")
    not_account_payable = serializers.CharField(required=False, help_text="account-only: items the account may not pay (cash)")
    lines = LineOutput(many=True)
    policy_version = serializers.IntegerField(allow_null=True, help_text="null for an account-only settlement")
    warnings = WarningOutput(many=True)
    explanation = ExplanationStep(many=True, help_text="why the settlement paid this: the calculation step by step")
    status = serializers.CharField(required=False, help_text="only on a repeat of a settlement since reversed: reversed")
    reversed_at = serializers.DateTimeField(required=False, help_text="only on a repeat of a reversed settlement (+08:00)")
    message = serializers.CharField(required=False, help_text="only on a repeat of a reversed settlement: what to do")


class ReversalOutput(serializers.Serializer):
    settlement_id = serializers.IntegerField()
    status = serializers.CharField()
    reversed_at = serializers.DateTimeField()
    fund = serializers.CharField()
    account_refund = serializers.CharField()
    family_account_refund = serializers.CharField()
    balance_after = serializers.CharField(allow_null=True)
    year = serializers.DictField(allow_null=True)


class BenefitsOutput(serializers.Serializer):
    id_number = serializers.CharField()
    year = serializers.IntegerField()
    deductible_met = serializers.CharField()
    fund_paid = serializers.CharField()
    cap = serializers.CharField(allow_null=True)
    cap_remaining = serializers.CharField(allow_null=True)
    large_expense_burden = serializers.CharField()
    large_expense_subsidy_pending = serializers.CharField(required=False, help_text="Jinan (七): second payment held for a batch (burden above the threshold)")
    annual_fund_maximum_remaining = serializers.CharField(
        required=False, allow_null=True, help_text="Ziyang 第十一条: left of the pooled fund's yearly maximum (null: not set or not counted)"
    )
    account_balance = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    employment_status = serializers.CharField(allow_null=True)
    scheme = serializers.CharField(allow_null=True)


class RegistrationOutput(serializers.Serializer):
    disease_code = serializers.CharField()
    disease_name = serializers.CharField()
    group = serializers.ChoiceField(choices=["chronic", "special", "two_diseases"])
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(allow_null=True)
    status = serializers.ChoiceField(choices=["approved", "revoked"])
    valid_today = serializers.BooleanField()
    certified_by_code = serializers.CharField(allow_null=True)
    designated_provider_code = serializers.CharField(allow_null=True)
    designated_provider_name = serializers.CharField(allow_null=True)


class RegistrationsOutput(serializers.Serializer):
    id_number = serializers.CharField()
    registrations = RegistrationOutput(many=True)
