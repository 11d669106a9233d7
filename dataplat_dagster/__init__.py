"""dataplat_dagster: declared dataflows become a medallion data platform on Dagster."""

import gc

# Loading a code location makes hundreds of thousands of long-lived objects (imports, Dagster's
# definitions, jobs and snapshots) and few cycles of garbage; at Python's default threshold
# (700) the young generation is collected about 1,300 times during the load of 100 dataflows,
# 1.3 s of 11 (each collection also promotes survivors toward costly full collections). A
# larger young generation does 18 collections for 0.6 s. Memory held by a cycle of garbage
# until the next collection stays small: 50,000 container objects.
if gc.get_threshold()[0] < 50_000:
    gc.set_threshold(50_000, 20, 20)
