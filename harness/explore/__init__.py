"""Search and campaigns on the sim backend: `imfault explore` (Hypothesis over fault schedules
and workload shapes, shrinking a failure to its minimum) and `imfault campaign` (a nemesis x bug
matrix over many seeds). See docs/exploring.md."""
