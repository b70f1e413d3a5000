"""Hypothesis profiles of the fuzz targets: "ci" (default, brief, runs in `make test`) and "fuzz" (at length,
`make fuzz`, i.e. HYPOTHESIS_PROFILE=fuzz). The profiles are applied by the fuzz tests' own decorators, never
loaded globally, so the other property tests of the suite keep their settings."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 200  # the `tries` of the fuzz tests' `fault` rows

settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
