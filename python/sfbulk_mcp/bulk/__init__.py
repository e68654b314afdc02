"""Bulk export and import pipelines."""

from .._memory import fix_glibc_thresholds

# Pages and upload batches are megabytes each: keep them in memory that is returned when freed.
fix_glibc_thresholds()
