"""Writing a new client manifest from flags or prompts, validated before it lands."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cosydeploy.config.load import load_manifest_file, manifest_path
from cosydeploy.config.models import is_dns_label
from cosydeploy.config.project import Project
from cosydeploy.errors import UsageError
from cosydeploy.render import render_manifest


@dataclass(frozen=True)
class ManifestAnswers:
    client: str
    name: str
    contact: str
    tier: str
    account_id: str
    region: str
    domain: str
    environments: tuple[str, ...]
    role_arn: str | None = None

    @classmethod
    def gather(
        cls,
        project: Project,
        client: str,
        *,
        tier: str | None,
        account_id: str | None,
        region: str | None,
        domain: str | None,
        name: str | None,
        contact: str | None,
        envs: list[str] | None,
        prompt: Callable[[str, str | None], str] | None = None,
    ) -> ManifestAnswers:
        """Flags first; ``prompt(label, default)`` (the CLI's, on a terminal) for what is
        missing; else defaults or an error."""
        if not is_dns_label(client):
            raise UsageError(
                f"client id {client!r} is not DNS-safe",
                hint="use 2-20 lowercase letters, digits and '-', starting with a letter",
            )
        cfg = project.config

        def ask(label: str, value: str | None, default: str | None) -> str:
            if value:
                return value
            if prompt is not None:
                return prompt(label, default)
            if default is None:
                flag = label.lower().replace(" ", "-")
                raise UsageError(
                    f"no manifest for {client!r} and no --{flag}",
                    hint=f"pass --{flag} (or run on a terminal to be asked)",
                )
            return default

        return cls(
            client=client,
            name=ask("Name", name, client.replace("-", " ").title()),
            contact=ask("Contact", contact, None),
            tier=ask("Tier", tier, next(iter(cfg.tiers))),
            account_id=ask("Account id", account_id, None),
            region=ask("Region", region, cfg.default_region),
            domain=ask("Domain", domain, cfg.zone_name),
            environments=tuple(envs or cfg.environments),
        )


def write_manifest(project: Project, a: ManifestAnswers, *, dry_run: bool = False) -> str:
    """Render the scaffold, validate it in a temp file, then move it into clients/ atomically."""
    text = render_manifest(
        project,
        client=a.client,
        name=a.name,
        contact=a.contact,
        tier=a.tier,
        account_id=a.account_id,
        region=a.region,
        domain=a.domain,
        environments=a.environments,
        role_arn=a.role_arn,
    )
    dest = manifest_path(project, a.client)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{a.client}.", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        _validate_as(project, Path(tmp), a.client, project.display(dest))
        if not dry_run:
            os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return text


def _validate_as(project: Project, tmp: Path, client: str, display: str) -> None:
    # Validate under the real name so the file-name check applies, without writing it there.
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / f"{client}.yaml"
        probe.write_text(tmp.read_text())
        load_manifest_file(project, probe, display)
