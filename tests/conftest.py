"""Hypothesis profiles: `ci` (default: derandomized, no deadline) and `nightly` (random, longer).

Select one with FUNCGRAD_HYPOTHESIS_PROFILE=nightly. Tests set their own `max_examples`; the
nightly profile multiplies nothing but explores new examples on every run.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", deadline=None, derandomize=False, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("FUNCGRAD_HYPOTHESIS_PROFILE", "ci"))
