"""Reconciliation runs: a processor's records (its API or a settlement file) against our ledger."""
