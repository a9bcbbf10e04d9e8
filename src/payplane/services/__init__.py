"""Use cases. They take their dependencies as arguments (ports below) and never import adapters."""
