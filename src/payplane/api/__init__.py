"""The HTTP edge: Stripe-compatible /v1 routers, decoding, auth and error mapping. Thin."""
