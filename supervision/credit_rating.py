"""The yearly provider credit score (定点机构信用评分), a pure calculation.

score = 100
        − 10 per confirmed violation of the year (not counting indicator flags), at most −50
        −  1 per full 1,000.00 yuan of confirmed amounts, at most −20
        −  5 per confirmed indicator flag (average cost, growth, out-of-catalog share), at most −20
never below 0. Grade: A ≥ 90, B ≥ 75, C ≥ 60, D below (results feed credit management and
agreement renewal: Ziyang 第二十一条, Jinan (十七); credit records: Yangzhou 三(一)).
"""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class CreditInputs:
    violations: int
    confirmed_amount: Decimal
    indicator_flags: int


@dataclass(frozen=True)
class CreditScore:
    score: int
    grade: str
    deductions: dict


def credit_score(inputs: CreditInputs) -> CreditScore:
    violations = min(10 * inputs.violations, 50)
    amount = min(int(inputs.confirmed_amount // Decimal("1000")), 20)
    indicators = min(5 * inputs.indicator_flags, 20)
    score = max(100 - violations - amount - indicators, 0)
    grade = "A" if score >= 90 else "B" if score >= 75 else "C" if score >= 60 else "D"
    return CreditScore(score, grade, {"violations": violations, "amount": amount, "indicators": indicators})
