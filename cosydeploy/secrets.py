"""Secret values in Secrets Manager, named ``<project>/<client>/<env>/<NAME>``.

Terraform creates the secret resources (never their values); this module sets values
and reports which exist and which have a value. A value only ever travels from the
reader (stdin or a hidden prompt) to ``put_secret_value``/``create_secret``: it is never
returned, printed, logged or put into an error message.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TextIO

from cosydeploy.errors import AwsError, CosydeployError, UsageError

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class MissingSecretsError(CosydeployError):
    """Required secrets have no value (exit 2)."""


@dataclass(frozen=True)
class SecretStatus:
    """What is known about one secret, without its value."""

    name: str  # the short NAME, e.g. DISCORD_BOT_TOKEN
    full_name: str  # <project>/<client>/<env>/<NAME>
    exists: bool
    has_value: bool
    last_changed: datetime | None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no value: there is none to give)."""
        data = asdict(self)
        data["last_changed"] = self.last_changed.isoformat() if self.last_changed else None
        return data


def secret_name(project: str, client: str, env: str, name: str) -> str:
    """The Secrets Manager name of one secret: ``<project>/<client>/<env>/<NAME>``."""
    if not _NAME_RE.match(name):
        raise UsageError(
            f"bad secret name {name!r}",
            hint="letters, digits and underscores, starting with a letter (e.g. MONGO_URI)",
        )
    return f"{project}/{client}/{env}/{name}"


def _aws_error(action: str, name: str, exc: Exception) -> AwsError:
    # Only the error code and the secret's name: botocore messages never echo the value,
    # but we do not rely on that.
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return AwsError(
        f"Secrets Manager {action} failed for {name}: {code}",
        hint="check the credentials and that the caller may use secretsmanager:* on this name",
    )


@contextmanager
def _no_debug_logs() -> Iterator[None]:
    """Silence DEBUG records while a value is in flight: botocore logs request bodies
    (the value included) at DEBUG, which ``--debug`` or a test harness may enable."""
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.DEBUG))
    try:
        yield
    finally:
        logging.disable(previous)


def set_secret(sm_client: Any, name: str, value: str) -> str:
    """Store ``value`` as the current version of secret ``name``.

    Puts a new version when the secret exists (Terraform created it), creates it
    otherwise. Returns ``"updated"`` or ``"created"``; never the value.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    if not value:
        raise UsageError(f"refusing to store an empty value for {name}")
    with _no_debug_logs():
        try:
            sm_client.put_secret_value(SecretId=name, SecretString=value)
            return "updated"
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise _aws_error("put_secret_value", name, exc) from None
        except BotoCoreError as exc:
            raise _aws_error("put_secret_value", name, exc) from None
        try:
            sm_client.create_secret(Name=name, SecretString=value)
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error("create_secret", name, exc) from None
        return "created"


def _status_from_description(short: str, full: str, desc: dict[str, Any], required: bool):
    deleted = desc.get("DeletedDate") is not None
    stages = desc.get("VersionIdsToStages") or desc.get("SecretVersionsToStages") or {}
    has_value = not deleted and any("AWSCURRENT" in s for s in stages.values())
    changed = desc.get("LastChangedDate") or desc.get("CreatedDate")
    return SecretStatus(short, full, not deleted, has_value, changed, required)


def list_secrets(
    sm_client: Any, project: str, client: str, env: str, required: Iterable[str]
) -> list[SecretStatus]:
    """The status of each required secret of a client/env, then any other secret under
    its ``<project>/<client>/<env>/`` prefix (``required=False``). Never reads values:
    it uses ``list_secrets`` metadata (versions and their stages), not ``get_secret_value``.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    prefix = f"{project}/{client}/{env}/"
    found: dict[str, dict[str, Any]] = {}
    try:
        paginator = sm_client.get_paginator("list_secrets")
        pages = paginator.paginate(Filters=[{"Key": "name", "Values": [prefix]}])
        for page in pages:
            for entry in page.get("SecretList", []):
                full = entry.get("Name", "")
                # The name filter matches by prefix; keep only direct children.
                if full.startswith(prefix) and "/" not in full[len(prefix) :]:
                    found[full] = entry
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error("list_secrets", prefix, exc) from None

    statuses: list[SecretStatus] = []
    required = list(dict.fromkeys(required))
    for short in required:
        full = secret_name(project, client, env, short)
        entry = found.pop(full, None)
        if entry is None:
            statuses.append(SecretStatus(short, full, False, False, None, True))
        else:
            statuses.append(_status_from_description(short, full, entry, True))
    for full in sorted(found):
        statuses.append(_status_from_description(full[len(prefix) :], full, found[full], False))
    return statuses


def missing_values(statuses: Iterable[SecretStatus]) -> list[str]:
    """The short names of required secrets that are absent or have no current value."""
    return [s.name for s in statuses if s.required and not s.has_value]


def check(statuses: Iterable[SecretStatus], target: str = "") -> None:
    """Raise ``MissingSecretsError`` naming every required secret without a value."""
    missing = missing_values(statuses)
    if missing:
        where = f"{target}: " if target else ""
        raise MissingSecretsError(
            f"{where}required secrets without a value: {', '.join(missing)}",
            hint="set each with: cosydeploy secrets set CLIENT --env ENV NAME",
        )


def read_value_from_stdin_or_prompt(name: str = "value", *, stdin: TextIO | None = None) -> str:
    """Read a secret value: all of stdin when it is not a terminal (one trailing newline
    dropped), else a hidden ``getpass`` prompt. Refuses an empty value. Never takes the
    value from an argument, so it stays out of shell history and process lists."""
    stream = stdin if stdin is not None else sys.stdin
    interactive = False
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if interactive:
        import getpass

        value = getpass.getpass(f"{name} (input hidden): ", stream=sys.stderr)
    else:
        value = stream.read()
        if value.endswith("\n"):
            value = value[:-1]
            if value.endswith("\r"):
                value = value[:-1]
    if not value or not value.strip():
        raise UsageError(
            f"empty value for {name}",
            hint="pipe the value on stdin (e.g. from a file or a password manager) or type it "
            "at the prompt",
        )
    return value


@dataclass(frozen=True)
class SecretsTarget:
    """One client/env's secrets: where they live and which ones the app requires."""

    sm_client: Any
    project: str
    client: str
    env: str
    required: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.client}/{self.env}"

    def statuses(self) -> list[SecretStatus]:
        """The status of every secret of the target (no values)."""
        return list_secrets(self.sm_client, self.project, self.client, self.env, self.required)


def set_value(target: SecretsTarget, name: str, value: str) -> str:
    """Store one value; returns what happened and the secret's full name (never the value)."""
    full = secret_name(target.project, target.client, target.env, name)
    return f"{set_secret(target.sm_client, full, value)} {full}"
