"""No secret value may reach Terraform state: checked on the HCL itself."""

from __future__ import annotations

import re
from pathlib import Path

TF = Path(__file__).resolve().parents[2] / "terraform"


def _sources() -> dict[Path, str]:
    return {p: p.read_text() for p in TF.rglob("*.tf") if ".terraform" not in p.parts}


def test_no_secret_value_is_a_stateful_argument() -> None:
    offenders = []
    for path, text in _sources().items():
        for pattern in (
            r'resource\s+"random_password"',  # its result is stored in state
            r"^\s*secret_string\s*=",  # Secrets Manager values: only secret_string_wo
            r"^\s*auth_token\s*=",  # ElastiCache AUTH: only the RBAC user's passwords_wo
            r"^\s*passwords\s*=",
            r"^\s*master_password\s*=",  # DocumentDB: manage_master_user_password
        ):
            for m in re.finditer(pattern, text, flags=re.M):
                line = text[: m.start()].count("\n") + 1
                offenders.append(f"{path.relative_to(TF)}:{line}: {m.group(0).strip()}")
    assert offenders == []


def test_the_redis_password_is_ephemeral_and_write_only() -> None:
    text = (TF / "modules" / "redis" / "main.tf").read_text()
    assert 'ephemeral "random_password" "app"' in text
    assert "secret_string_wo         = ephemeral.random_password.app.result" in text
    # The RBAC user reads the secret: one source for the password (tests/terraform).
    assert (
        "passwords_wo         = ephemeral.aws_secretsmanager_secret_version.auth_token.secret_string"
        in text
    )
    assert "user_group_ids" in text
