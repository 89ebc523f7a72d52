"""State changes of members and their personal accounts, by sub-domain.

Each module holds one sub-domain's services; this package re-exports their public names so
callers import `members.services.<name>` whatever module it lives in."""

from .credit_runs import (  # noqa: F401
    DEFAULT_CHUNK_SIZE,
    POLICY_KIND,
    PREMIUMS,
    InvalidPolicy,
    MissingReferenceData,
    credit_month,
    credit_month_start,
    credit_plan_for,
    credit_policy_as_pure,
    credit_policy_in_force,
    credit_policy_load,
    credit_run_chunk,
    credit_run_chunk_bounds,
    reference_values,
)
from .enrollment import SCHEME_GOES_BACK, EnrollmentRefused, enrollment_add, enrollment_check_schemes  # noqa: F401
from .family import (  # noqa: F401
    family_link_check,
    family_link_create,
    family_link_create_outside,
    family_link_delete,
    family_link_outside_check,
)
from .ledger import InsufficientBalance, account_lock, account_post_entry, account_reverse_entry  # noqa: F401
from .primary_care import primary_care_check, primary_care_end, primary_care_provider_on, primary_care_register  # noqa: F401
from .scheme_change import SchemeChangeRefused, enrollment_change_scheme  # noqa: F401
from .uses import FORBIDDEN_USES, UseRefused, account_pay_premium  # noqa: F401
from .withdrawals import (  # noqa: F401
    account_late_refund_approve,
    account_late_refund_record,
    account_withdrawal_approve,
    account_withdrawal_propose,
    account_withdrawal_reject,
)
