"""Inspection: rendering, cost model, NaN debugging, command line."""
