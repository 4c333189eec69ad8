"""Optimisers (placeholder)."""
