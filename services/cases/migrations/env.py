from chassis.migrations import run_env
from services.cases.tables import metadata

run_env(metadata)
