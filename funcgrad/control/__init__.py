"""Structured control flow primitives."""
