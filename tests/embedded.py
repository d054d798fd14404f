"""A script run the way `make run` runs the product: its own interpreter, the embedded mode
(no DATABASE_URL, REDIS_URL or CRM_MODE from the test run: SQLite and in-process tasks) and a
throwaway var folder. The script prints JSON as its last line; that is the answer."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_embedded(script: str, var_dir: Path, *args: str, timeout: int = 300,
                 env: dict | None = None):
    environment = {k: v for k, v in os.environ.items()
                   if k not in {"DATABASE_URL", "REDIS_URL", "CRM_MODE"}}
    result = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, env=environment | {"CRM_VAR_DIR": str(var_dir),
                                            "DJANGO_SETTINGS_MODULE": "config.settings",
                                            **(env or {})})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
