"""Sending events and health to the cloud."""
