"""Jobs an operator launches by name from the UI or `dagster job launch`."""

import dagster as dg

nexus_main_job = dg.define_asset_job(
    name="nexus_main_job",
    selection=dg.AssetSelection.all(),
    description="Materialize the whole graph: market data, Lona strategies and signals, features.",
)
