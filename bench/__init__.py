"""Payplane benchmarks; `python -m bench` (or `make bench`) runs them all, each on a private
platform, and rewrites its own section of docs/benchmarks.md.

`python -m bench checkout` (also `python -m bench --option ...`): starts a private platform
(embedded PostgreSQL in a temp dir, the PSP simulator at zero latency, the api and the worker),
drives create -> confirm -> capture with N concurrent virtual users, accounts for the CPU of every
process (the load generator's own included), runs pgbench tpcb-like on the same PostgreSQL as the
physical reference, and rewrites the "Checkout" section. With `--rate R` it drives an open
loop instead (checkouts arriving at random at R per second, latency from each arrival) and
rewrites "Checkout latency at a fixed arrival rate"; `make bench` runs both (R = 40).

`python -m bench events`: the same platform plus embedded NATS; outbox events committed at a
steady rate are timed from COMMIT to receipt at a merchant webhook endpoint served in-process,
then a backlog measures the relay's and the deliveries' throughput; rewrites the "Event
pipeline" section.

`python -m bench reconcile`: a private embedded PostgreSQL with a million captured payments
generated in it, and a settlement report of a million lines in the simulator's format; one
reconciliation run timed by phase (parse, load, match, post); rewrites the "Reconciliation"
section.
"""
