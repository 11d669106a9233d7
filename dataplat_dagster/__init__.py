"""dataplat_dagster: declared dataflows become a medallion data platform on Dagster."""
