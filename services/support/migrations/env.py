from chassis.migrations import run_env
from services.support.tables import metadata

run_env(metadata)
