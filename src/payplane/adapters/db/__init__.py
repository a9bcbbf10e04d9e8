"""PostgreSQL adapters: the pool, the unit of work and one repository module per table group."""
