"""Long-running loops; each is small, restartable and safe to run in several processes."""
