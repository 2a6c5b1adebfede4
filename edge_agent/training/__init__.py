"""Fitting per-camera normal models (torch only here, never at inference)."""
