"""Resources for the code location, configured from the environment at run time."""

import dagster as dg

from nexus_assets.resources.decision_log import DecisionLogResource
from nexus_assets.resources.grok import GrokResource
from nexus_assets.resources.kill_switch import KillSwitchResource
from nexus_assets.resources.live_engine import LiveEngineResource
from nexus_assets.resources.lona import LonaGateway
from nexus_assets.resources.market_data import market_data_from_env
from nexus_assets.resources.news import news_source_from_env
from nexus_assets.resources.parquet_io import ParquetIOManager


@dg.definitions
def resources() -> dg.Definitions:
    lona = LonaGateway(
        base_url=dg.EnvVar("LONA_GATEWAY_URL"),
        token=dg.EnvVar("LONA_AGENT_TOKEN"),
        user_id=dg.EnvVar("LONA_AGENT_ID"),
    )
    return dg.Definitions(
        resources={
            "io_manager": ParquetIOManager(),
            "lona": lona,
            "market_data": market_data_from_env(lona),
            "live_engine": LiveEngineResource(),
            "news": news_source_from_env(),
            "grok": GrokResource(),
            "kill_switch": KillSwitchResource(),
            "decision_log": DecisionLogResource(),
        }
    )
