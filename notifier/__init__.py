"""Alerts: subscriptions, the outbox and its channels (arrives with the alerts issue)."""
