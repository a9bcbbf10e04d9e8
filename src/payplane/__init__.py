"""Payplane: a self-hostable payment platform."""
