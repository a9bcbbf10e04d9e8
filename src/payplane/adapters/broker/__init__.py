"""The event bus: NATS JetStream."""
