from chassis.migrations import run_env
from services.inspection.tables import metadata

run_env(metadata)
