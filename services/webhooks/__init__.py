"""The merchant webhooks worker: billing.events in, signed POSTs to merchants' endpoints out."""
