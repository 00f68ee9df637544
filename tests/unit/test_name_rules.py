"""The manifest and project models refuse names AWS would reject later, at apply time."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cosydeploy.config.models import (
    LOG_RETENTION_DAYS,
    STACK_NAME_MAX,
    ClientManifest,
    ProjectConfig,
)


def manifest(client: str) -> dict[str, Any]:
    return {
        "client": client,
        "name": "X",
        "contact": "ops@example.com",
        "tier": "dev",
        "aws": {"account_id": "123456789012"},
        "environments": {"dev": {}},
    }


def project(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project": "cosyworld",
        "environments": ["dev", "staging", "prod"],
        "tiers": {},
        "state": {"bucket": "b"},
    }
    base.update(changes)
    return base


@pytest.mark.parametrize("client", ["acme", "northwind-traders-eu", "a1", "b-2-c"])
def test_client_ids_aws_accepts(client: str) -> None:
    assert ClientManifest.model_validate(manifest(client)).client == client


@pytest.mark.parametrize(
    "client",
    [
        "acme--eu",  # ElastiCache and DocumentDB ids refuse two hyphens in a row
        "acme-",  # and a hyphen last
        "internal",  # ALB names may not start with "internal-"
        "internal-tools",
        "northwind-traders-eur",  # 21 characters
        "1acme",
        "Acme",
    ],
)
def test_client_ids_aws_rejects(client: str) -> None:
    with pytest.raises(ValidationError):
        ClientManifest.model_validate(manifest(client))


def test_the_longest_names_fit_elasticache() -> None:
    ok = ProjectConfig.model_validate(project())
    assert len(f"{ok.project}-{'c' * 20}-staging") <= STACK_NAME_MAX
    with pytest.raises(ValidationError, match="ElastiCache allows 38"):
        ProjectConfig.model_validate(project(project="cosyworld-platform"))
    with pytest.raises(ValidationError, match="ElastiCache allows 38"):
        ProjectConfig.model_validate(project(project="cosyworld1", environments=["dev", "staging"]))


@pytest.mark.parametrize("env", ["production", "Dev", "d", "pre-prod"])
def test_environment_names_terraform_rejects(env: str) -> None:
    with pytest.raises(ValidationError):
        ProjectConfig.model_validate(project(project="cw", environments=["dev", env]))


def test_log_retention_is_a_value_cloudwatch_accepts() -> None:
    assert ProjectConfig.model_validate(project(log_retention_days={"dev": 7, "prod": 90}))
    assert {7, 30, 90, 365} <= LOG_RETENTION_DAYS
    with pytest.raises(ValidationError, match="CloudWatch Logs keeps logs"):
        ProjectConfig.model_validate(project(log_retention_days={"dev": 45}))


@pytest.mark.parametrize("name", ["REDIS_AUTH_TOKEN", "REDIS_HOST", "WEB_PORT", "NODE_ENV"])
def test_a_secret_cannot_take_a_name_the_stack_gives_the_container(name: str) -> None:
    data = {**manifest("acme"), "app": {"secrets": ["SLACK_TOKEN", name]}}
    with pytest.raises(ValidationError, match=f"{name}: the stack gives the container"):
        ClientManifest.model_validate(data)
    ok = {**manifest("acme"), "app": {"secrets": ["SLACK_TOKEN"]}}
    assert ClientManifest.model_validate(ok).app.secrets == ["SLACK_TOKEN"]
