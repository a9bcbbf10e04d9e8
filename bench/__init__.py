"""Payplane benchmarks; `python -m bench` (or `make bench`) runs the checkout benchmark.

The checkout benchmark starts a private platform (embedded PostgreSQL in a temp dir, the PSP
simulator at zero latency, the api and the worker), drives create -> confirm -> capture with N
concurrent virtual users, accounts for the CPU of every process (the load generator's own
included), runs pgbench tpcb-like on the same PostgreSQL as the physical reference, and rewrites
the "Checkout" section of docs/benchmarks.md.
"""
