"""Testing helpers (placeholder)."""
