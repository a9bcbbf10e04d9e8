"""PSP connectors: one module per PSP behind the PspConnector port, plus shared resilience."""
