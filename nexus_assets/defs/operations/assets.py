"""Operational records that live in the asset catalog, next to the assets they concern."""

import dagster as dg

RUN_FAILURES = dg.AssetKey("run_failures")

run_failures = dg.AssetSpec(
    RUN_FAILURES,
    group_name="operations",
    kinds={"dagster"},
    owners=["team:data-platform"],
    description=(
        "The failure log of this code location: `nexus_run_failure_sensor` records one "
        "observation per failed run (job, run link, failed steps and their errors, what launched "
        "it, retry number). Open the asset's Events tab to see every failure in time order. "
        "Nothing materializes it."
    ),
)
