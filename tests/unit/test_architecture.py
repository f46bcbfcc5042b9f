"""The boundaries between services are checked, not just hoped for."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    """Services never import one another; domains import no infrastructure (import-linter)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_the_code_has_no_undefined_names_or_unused_imports():
    """pyflakes over everything the project runs (an undefined name is a crash waiting for its line)."""
    result = subprocess.run([sys.executable, "-m", "pyflakes", "chassis", "contracts", "services", "bench", "tests"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_services_folders_exist_with_readme():
    for name in ("registry", "inspection", "cases", "support", "reporting"):
        assert (ROOT / "services" / name / "README.md").is_file(), name


def test_every_installed_service_serves_under_its_own_prefix(services):
    assert "registry" in services
    for name, service in services.items():
        assert service.name == name
        assert (service.migrations / "env.py").is_file()
