"""Words for values the code holds (statuses, actions, reasons), marked for the catalogs."""

from __future__ import annotations

from shared.i18n import N_

STATUSES = {
    "pending": N_("Pending"),
    "completed": N_("Completed"),
    "failed": N_("Failed"),
    "canceled": N_("Canceled"),
    "expired": N_("Expired"),
    "partially_refunded": N_("Partially refunded"),
    "refunded": N_("Refunded"),
    "requested": N_("Requested"),
    "succeeded": N_("Succeeded"),
    "queued": N_("Queued"),
    "running": N_("Running"),
}

REASONS = {
    "csrf": N_("The form's security token is missing or wrong. Reload the page and try again."),
    "session": N_("Your session has ended. Sign in again."),
    "not_found": N_("Nothing here: it does not exist, or it is not yours to see."),
    "billing.view": N_("You need the permission billing.view for this."),
    "billing.create": N_("You need the permission billing.create for this."),
    "billing.refund": N_("You need the permission billing.refund for this."),
    "billing.cancel": N_("You need the permission billing.cancel for this."),
    "billing.reconcile": N_("You need the permission billing.reconcile for this."),
    "billing.gateways.manage": N_("You need the permission billing.gateways.manage for this."),
}

DONE = {
    "complete": N_("Completion requested: the transaction changes as soon as the processor has it."),
    "cancel": N_("Cancellation requested: the transaction changes as soon as the processor has it."),
    "refund": N_("Refund requested: it appears below as soon as the processor has it."),
}
