"""The national-interface gateway's own records (interfaces/nhsa.md): the day's sign-ins, the
visits (mdtrt_id) and fee lines a HIS uploads before settling, and the log of every message
and its answer, keyed by (provider, msgid) for idempotency."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.money import MoneyField


class SignIn(models.Model):
    """9001 签到: the sign-in number a provider's HIS sends on every 2xxx and 3xxx that day."""

    provider = models.ForeignKey("pharmacies.Provider", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+")
    sign_no = models.CharField(_("sign-in number"), max_length=30, unique=True)
    day = models.DateField(_("day"))
    opter_no = models.CharField(_("operator"), max_length=30, blank=True)
    mac = models.CharField(_("MAC address"), max_length=64, blank=True)
    ip = models.CharField(_("IP address"), max_length=64, blank=True)
    signed_in_at = models.DateTimeField(_("signed in at"), auto_now_add=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("sign-in")
        verbose_name_plural = _("sign-ins")
        ordering = ["-pk"]

    def __str__(self):
        return self.sign_no


class Visit(models.Model):
    """A visit (就诊, mdtrt_id): opened by 2201 at an institution or 2102 at a pharmacy."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CANCELLED = "cancelled", _("registration cancelled")

    provider = models.ForeignKey("pharmacies.Provider", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey("members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    ipt_otp_no = models.CharField(_("outpatient number"), max_length=30, blank=True)
    begntime = models.DateTimeField(_("visit start"))
    insutype = models.CharField(_("insurance type"), max_length=6, default="310")
    mdtrt_cert_type = models.CharField(_("certificate type"), max_length=3, default="02")
    med_type = models.CharField(_("medical type"), max_length=6, blank=True)
    dise_codg = models.CharField(_("disease code"), max_length=30, blank=True)
    dise_name = models.CharField(_("disease name"), max_length=300, blank=True)
    diagnoses = models.JSONField(_("diagnoses"), default=list, blank=True)
    prescribed_by_code = models.CharField(_("prescribing institution"), max_length=30, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    # The settlement in force (None before settlement and after a cancellation); how many
    # settlements the visit has had names the next one's external_ref.
    claim = models.ForeignKey("claims.Claim", verbose_name=_("settlement"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    settle_msgid = models.CharField(_("settling message"), max_length=30, blank=True)
    settlements = models.PositiveIntegerField(_("settlements"), default=0)
    use_account_flag = models.BooleanField(_("account used"), default=False)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    # The person's type (psn_type) and civil-servant flag on the visit date, read when it opens.
    psn_type = models.CharField(_("person type"), max_length=6, blank=True)
    cvlserv_flag = models.CharField(_("civil-servant subsidy"), max_length=1, blank=True)
    opened_by_msgid = models.CharField(_("opening message"), max_length=30)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("national-interface visit")
        verbose_name_plural = _("national-interface visits")
        ordering = ["-pk"]

    def __str__(self):
        return str(self.pk)

    @property
    def mdtrt_id(self) -> str:
        return str(self.pk)


class FeeLine(models.Model):
    """One uploaded fee line (2204, or a 2101/2102 drugdetail)."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("uploaded")
        CANCELLED = "cancelled", _("cancelled")

    visit = models.ForeignKey(Visit, verbose_name=_("visit"), on_delete=models.PROTECT, related_name="lines")
    feedetl_sn = models.CharField(_("fee line number"), max_length=30)
    chrg_bchno = models.CharField(_("charge batch"), max_length=30, blank=True)
    med_list_codg = models.CharField(_("catalog code"), max_length=50)
    medins_list_codg = models.CharField(_("provider's item code"), max_length=150, blank=True)
    rxno = models.CharField(_("prescription number"), max_length=30, blank=True)
    rx_circ_flag = models.CharField(_("circulated prescription"), max_length=3, blank=True)
    fee_ocur_time = models.DateTimeField(_("fee time"), null=True, blank=True)
    cnt = models.DecimalField(_("quantity"), max_digits=16, decimal_places=4)
    pric = MoneyField(_("unit price"), max_digits=16, decimal_places=6)
    det_item_fee_sumamt = MoneyField(_("line amount"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.UPLOADED)
    uploaded_by_msgid = models.CharField(_("uploading message"), max_length=30)

    class Meta:
        verbose_name = _("fee line")
        verbose_name_plural = _("fee lines")
        ordering = ["pk"]
        constraints = [
            # 2204: a fee line number is uploaded once per visit until it is cancelled (2205).
            models.UniqueConstraint(
                fields=["visit", "feedetl_sn"], condition=Q(status="uploaded"), name="gateway_feeline_unique_uploaded"
            ),
        ]

    def __str__(self):
        return f"{self.visit_id}/{self.feedetl_sn}"


class Message(models.Model):
    """Every message received and the answer given (who, when, msgid, infno, outcome).
    ID numbers in the stored request are masked; the answer is kept as sent, to be sent again
    unchanged to a repeat of the same msgid."""

    class Outcome(models.TextChoices):
        SUCCESS = "0", _("success")
        FAILURE = "-1", _("failure")

    provider = models.ForeignKey("pharmacies.Provider", verbose_name=_("provider"), on_delete=models.PROTECT, related_name="+")
    msgid = models.CharField(_("message id"), max_length=30)
    infno = models.CharField(_("transaction"), max_length=6)
    inf_refmsgid = models.CharField(_("answer id"), max_length=30)
    opter = models.CharField(_("operator"), max_length=30, blank=True)
    opter_name = models.CharField(_("operator name"), max_length=50, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    infcode = models.CharField(_("outcome"), max_length=2, choices=Outcome.choices)
    err_msg = models.CharField(_("error message"), max_length=500, blank=True)
    request = models.JSONField(_("request (ID numbers masked)"), default=dict)
    # The output exactly as answered (JSON text: amounts keep their two decimals).
    output = models.TextField(_("output"), blank=True)
    visit = models.ForeignKey(Visit, verbose_name=_("visit"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    claim = models.ForeignKey("claims.Claim", verbose_name=_("settlement"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey("members.Member", verbose_name=_("member"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # What the message did, for 2601: "settled", "cancelled" (a settlement), or "" (no effect).
    effect = models.CharField(_("effect"), max_length=16, blank=True)
    reversed_by_msgid = models.CharField(_("reversed by (2601)"), max_length=30, blank=True)

    class Meta:
        verbose_name = _("national-interface message")
        verbose_name_plural = _("national-interface messages")
        ordering = ["-pk"]
        constraints = [
            # Idempotency: the same provider's msgid is answered once; a repeat gets that answer.
            models.UniqueConstraint(fields=["provider", "msgid"], name="gateway_message_unique_msgid"),
        ]
        indexes = [
            # The admin's list: a provider's messages by time.
            models.Index(fields=["provider", "received_at"], name="gateway_message_provider_idx"),
        ]

    def __str__(self):
        return f"{self.infno} {self.msgid}"
