"""The `payplane` command line."""
