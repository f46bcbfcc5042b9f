"""The `lanhmanh` command line."""
from __future__ import annotations

import jwt
from click.testing import CliRunner

from chassis.cli import main
from tests.conftest import TEST_SECRET


def run(args, tmp_path, **env):
    return CliRunner().invoke(main, args, env={"LANHMANH_VAR_DIR": str(tmp_path), "JWT_SECRET": TEST_SECRET, **env},
                              catch_exceptions=False)


def test_token_prints_a_token_with_the_role_and_district(tmp_path):
    result = run(["token", "--role", "police", "--district", "116"], tmp_path)
    claims = jwt.decode(result.output.strip(), TEST_SECRET, algorithms=["HS256"], audience="lanhmanh")
    assert claims["roles"] == ["police"] and claims["district"] == "116"


def test_token_refuses_an_unknown_role(tmp_path):
    result = CliRunner().invoke(main, ["token", "--role", "mayor"])
    assert result.exit_code == 2 and "mayor" in result.output


def test_production_mode_refuses_to_start_without_a_strong_key(tmp_path):
    result = CliRunner().invoke(main, ["migrate", "registry"], env={
        "LANHMANH_ENV": "production", "JWT_SECRET": "short", "EVENT_TRANSPORT": "kafka",
        "LANHMANH_VAR_DIR": str(tmp_path)})
    assert result.exit_code != 0 and "JWT_SECRET" in str(result.exception)


def test_reporting_rebuild_command_rebuilds_the_projections(tmp_path):
    assert run(["migrate", "reporting"], tmp_path).exit_code == 0
    result = run(["admin", "reporting", "rebuild", "--timeout", "1"], tmp_path)
    assert result.exit_code == 0 and "rebuilt from 0 messages" in result.output


def test_dead_letters_names_the_consumers_a_service_has(tmp_path):
    result = CliRunner().invoke(main, ["dead-letters", "registry", "--consumer", "nope"],
                                env={"LANHMANH_VAR_DIR": str(tmp_path)})
    assert result.exit_code == 2 and "registry-inspection-risk" in result.output


def test_in_one_process_each_log_line_names_the_service_whose_work_it_is(tmp_path, capsys, services):
    import json
    import logging

    from chassis import logs
    from chassis.service import bootstrap
    from tests.conftest import make_config

    logs.configure("lanhmanh")  # as `make run` does for its five services
    try:
        for name in ("registry", "reporting"):
            bootstrap(services[name], make_config(name, tmp_path)).migrate()
        logging.getLogger("anywhere").info("not inside any service's work")
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "_lanhmanh", False)]:
            root.removeHandler(handler)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    migrations = [line["service"] for line in lines if line["message"].startswith("Running upgrade")]
    assert migrations and set(migrations) == {"registry", "reporting"}
    assert migrations == sorted(migrations)  # registry's first, then reporting's: each labelled its own
    assert [line["service"] for line in lines if line["message"] == "not inside any service's work"] == ["lanhmanh"]
