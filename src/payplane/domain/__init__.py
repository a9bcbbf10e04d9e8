"""Pure domain: money, the payment state machine, ledger postings, events. Standard library only."""
