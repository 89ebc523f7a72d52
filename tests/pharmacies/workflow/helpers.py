"""Steps of the designation workflow shared by the tests (through the services)."""

from datetime import timedelta

from django.utils import timezone

from pharmacies import services
from pharmacies.models import AdmissionCondition, ApplicationDocument

from .conftest import pdf


def filled_pharmacy_application(user, *, met=True, skip=(), evidence=True):
    """A draft of a pharmacy joining outpatient pooling, with its licence and condition answers."""
    application = services.application_create(
        actor=user,
        name="康宁大药房",
        outpatient_pooling=True,
        district="市中区",
        contact_email="apply@pharmacy.example",
    )
    services.application_add_document(
        application=application,
        actor=user,
        kind=ApplicationDocument.Kind.DRUG_TRADING_LICENCE,
        upload=pdf(),
    )
    for condition in AdmissionCondition.Condition.values:
        if condition in skip:
            continue
        services.application_answer_condition(
            application=application,
            actor=user,
            condition=condition,
            met=met,
            evidence_text="进销存系统已与医保信息系统对接（截图见附件）" if evidence else "",
        )
    return application


def review(application, reviewer):
    application = services.application_start_review(application=application, actor=reviewer)
    return services.application_record_inspection(
        application=application,
        actor=reviewer,
        inspected_on=timezone.localdate(),
        notes="现场评估：进销存、电子处方、追溯码扫码均已核验。",
    )


def sign(application, signer, **terms):
    today = timezone.localdate()
    values = {
        "period_from": today,
        "period_to": today + timedelta(days=364),
        "payment_method": "per_item",
        "outpatient_pooling": True,
        **terms,
    }
    return services.agreement_sign(application=application, actor=signer, **values)
