"""State changes of the designation workflow (定点申请 → 评估 → 协议 → 定点). One transaction each.

Who does what (Ziyang 第十九条: handling and audit are incompatible duties, 经办和稽核分离):

- file, edit a draft, upload documents, answer the admission conditions, submit
  (`application_create`, `application_update`, `application_add_document`,
  `application_remove_document`, `application_answer_condition`, `application_submit`):
  the provider's own staff in the portal, or a case worker (经办) in the admin;
- take up the review and record the site inspection (`application_start_review`,
  `application_record_inspection`): a case worker (经办); whoever takes it up is the reviewer;
- approve or reject (`application_approve`, `application_reject`): an auditor (稽核), never
  the reviewer (`ensure_separated`, also for a superuser or a person holding both roles);
- sign the agreement, bring it into force, renew it (`agreement_sign`, `agreement_activate`,
  `agreement_renew`): a case worker (经办), carrying out an approved decision within it;
- suspend, reinstate, terminate a provider (`provider_suspend`, `provider_reinstate`,
  `provider_terminate`): an auditor (稽核): sanctions follow inspections and audits.

The approval is the decision, so it goes to the audit role and to a different person from
the reviewer. Signing records the agreement the decision allows: it may not grant outpatient
pooling that was not applied for (and, for a pharmacy, proved by the admission conditions).

Every transition: locks the row it changes, re-reads its state, refuses with a stable code
when the state or the role is wrong (nothing written), writes a `WorkflowTransition` row and
an audit event, and tells the provider (portal notification + e-mail after commit).

Like every service, each joins the caller's transaction (README "Transactions").
"""

from core.tokens import api_token_issue, api_token_revoke, api_token_rotate  # noqa: F401

from .agreements import (  # noqa: F401
    agreement_activate,
    agreement_renew,
    agreement_sign,
    agreements_expire_due,
    agreements_expiring,
    provider_credit,
)
from .applications import (  # noqa: F401
    application_add_document,
    application_answer_condition,
    application_approve,
    application_create,
    application_record_inspection,
    application_reject,
    application_remove_document,
    application_start_review,
    application_submit,
    application_update,
    missing_documents,
    unmet_conditions,
)
from .common import (  # noqa: F401
    EDITABLE_FIELDS,
    LEVELS_NEEDING_CERTIFICATE,
    REQUIRED_DOCUMENTS,
    AdmissionConditionsUnmet,
    InvalidState,
    logger,
)
from .notifications import MESSAGES, money_text, notifications_mark_read, notify_provider  # noqa: F401
from .payment_terms import payment_terms_clean, payment_terms_for, payment_terms_set  # noqa: F401
from .sanctions import provider_reinstate, provider_suspend, provider_terminate  # noqa: F401
from .staff import provider_staff_link, provider_staff_link_by_command, provider_staff_unlink  # noqa: F401
