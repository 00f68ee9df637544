"""Client manifests: the example validates; broken ones give exit 2 and one clear line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

GOOD = """\
client: acme
name: Acme
contact: ops@acme.test
tier: small
aws:
  account_id: "123456789012"
  region: us-east-1
environments:
  dev: {}
  prod:
    scaling: {min: 2, max: 4}
app:
  secrets: [TELEGRAM_BOT_TOKEN]
database:
  engine: atlas
"""

# (name, manifest text, expected line, expected text in the error)
BROKEN: list[tuple[str, bytes | str, int | None, str]] = [
    ("yaml syntax", GOOD.replace("tier: small", "tier: [small"), None, "YAML syntax error"),
    ("tab indentation", GOOD.replace("  region: us-east-1", "\tregion: us-east-1"), 7, "tabs"),
    ("control character", GOOD.replace("name: Acme", "name: Acme\x07"), 2, "U+0007 is not allowed"),
    ("not of its tag", GOOD.replace("tier: small", "tier: !!int small"), 4, "not a valid int"),
    ("bool tag", GOOD.replace("name: Acme", "name: !!bool maybe"), 2, "not a valid bool"),
    ("duplicate key", GOOD + "tier: dev\n", 16, "duplicate key"),
    ("unknown top key", GOOD + "colour: blue\n", 16, "unknown key 'colour'"),
    (
        "unknown nested key",
        GOOD.replace("  region: us-east-1", "  regoin: us-east-1"),
        7,
        "aws: unknown key 'regoin'",
    ),
    ("missing client", GOOD.replace("client: acme\n", ""), 1, "client: required field is missing"),
    (
        "missing aws",
        GOOD.replace('aws:\n  account_id: "123456789012"\n  region: us-east-1\n', ""),
        1,
        "aws: required",
    ),
    ("bad account id", GOOD.replace('"123456789012"', '"12345"'), 6, "12-digit AWS account id"),
    ("account id as number", GOOD.replace('"123456789012"', "123456789012"), 6, "quoted 12-digit"),
    ("bad client id", GOOD.replace("client: acme", "client: Acme_Co"), 1, "lowercase"),
    (
        "client id differs from file",
        GOOD.replace("client: acme", "client: other"),
        1,
        "does not match the file name",
    ),
    ("unknown tier", GOOD.replace("tier: small", "tier: huge"), 4, "unknown tier 'huge'"),
    ("unknown environment", GOOD.replace("  dev: {}", "  qa: {}"), 9, "unknown environment 'qa'"),
    (
        "impossible cpu/memory",
        GOOD.replace("  dev: {}", "  dev: {cpu: 256, memory: 4096}"),
        9,
        "not valid with cpu 256",
    ),
    ("not a fargate cpu", GOOD.replace("  dev: {}", "  dev: {cpu: 300}"), 9, "not a Fargate size"),
    (
        "min greater than max",
        GOOD.replace("{min: 2, max: 4}", "{min: 5, max: 3}"),
        11,
        "greater than max",
    ),
    ("wrong type port", GOOD.replace("app:\n", "app:\n  port: web\n"), 13, "port"),
    ("port out of range", GOOD.replace("app:\n", "app:\n  port: 70000\n"), 13, "port"),
    (
        "bad secret name",
        GOOD.replace("[TELEGRAM_BOT_TOKEN]", "[telegram-token]"),
        13,
        "UPPER_SNAKE_CASE",
    ),
    ("bad email", GOOD.replace("ops@acme.test", "nobody"), 3, "email"),
    ("bad region", GOOD.replace("region: us-east-1", "region: mars"), 7, "AWS region"),
    ("unknown database engine", GOOD.replace("engine: atlas", "engine: postgres"), 15, "atlas"),
    (
        "python object tag",
        GOOD.replace("name: Acme", "name: !!python/object:os.system ls"),
        2,
        "not allowed",
    ),
    ("alias bomb", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n" + GOOD, 1, "anchors and aliases"),
    ("empty file", "", None, "empty"),
    ("comments only", "# nothing here\n", None, "no YAML document"),
    ("binary file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "binary"),
    ("top level is a list", "- client: acme\n", 1, "top level must be a mapping"),
    (
        "environments empty",
        GOOD.replace(
            "environments:\n  dev: {}\n  prod:\n    scaling: {min: 2, max: 4}\n",
            "environments: {}\n",
        ),
        None,
        "at least one environment",
    ),
    (
        "desired outside bounds",
        GOOD.replace("  dev: {}", "  dev: {desired_count: 9}"),
        9,
        "outside the scaling bounds",
    ),
    # Nested a few thousand levels deep: refused by depth, never a RecursionError.
    ("nested flow lists", GOOD + "deep: " + "[" * 3000 + "]" * 3000 + "\n", 16, "nested more than"),
    (
        "nested flow mappings",
        GOOD + "deep: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        16,
        "nested more than",
    ),
    ("nested block lists", GOOD + "deep:\n" + "- " * 3000 + "x\n", 17, "nested more than"),
    # Blue/green, canary and linear verify on the test listener: with no CIDR allowed to
    # reach it (the project's default), every such release would time out unverified.
    (
        "shifting strategy, test listener open to nobody",
        GOOD.replace("  dev: {}", "  dev: {release: {strategy: blue_green}}"),
        9,
        "release.test_listener_cidrs lets nobody reach it",
    ),
    (
        "client's shifting strategy, test listener open to nobody",
        GOOD + "release: {strategy: canary}\n",
        16,
        "strategy canary verifies on the test listener",
    ),
    (
        "env value not a string",
        GOOD.replace("app:\n", "app:\n  environment: {DEBUG: 1}\n"),
        13,
        "quoted string",
    ),
]


def test_example_manifest_validates(cli) -> None:
    r = cli("validate", "example")
    assert r.exit_code == 0, r.output
    assert "ok    clients/example.yaml" in r.stderr


def test_good_manifest_validates(cli, project_copy: Path) -> None:
    (project_copy / "clients" / "acme.yaml").write_text(GOOD)
    r = cli("--project-dir", str(project_copy), "validate", "acme")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(("name", "text", "line", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_manifest(cli, project_copy: Path, name: str, text, line, expected: str) -> None:
    path = project_copy / "clients" / "acme.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    r = cli("--project-dir", str(project_copy), "validate", "acme")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    err = errors[0]
    where = "clients/acme.yaml" + (f":{line}:" if line else "")
    assert err.startswith(f"error: {where}"), err
    assert expected.lower() in r.stderr.lower(), r.stderr
    assert any(ln.startswith("hint: ") for ln in lines), r.stderr


def test_shifting_strategy_validates_once_the_test_listener_has_cidrs(
    cli, project_copy: Path
) -> None:
    config = project_copy / "cosydeploy.yaml"
    config.write_text(
        config.read_text().replace(
            "test_listener_cidrs: []", "test_listener_cidrs: [203.0.113.0/24]"
        )
    )
    (project_copy / "clients" / "acme.yaml").write_text(
        GOOD.replace("  dev: {}", "  dev: {release: {strategy: linear}}")
    )
    r = cli("--project-dir", str(project_copy), "validate", "acme")
    assert r.exit_code == 0, r.output


def test_prod_is_blue_green_by_default_once_the_test_listener_can_be_reached(
    project_copy: Path,
) -> None:
    from cosydeploy.config.load import load_manifest, load_project
    from cosydeploy.config.resolve import resolve

    (project_copy / "clients" / "acme.yaml").write_text(GOOD)
    config = project_copy / "cosydeploy.yaml"

    def strategies() -> dict[str, str]:
        project = load_project(project_copy)
        manifest, _ = load_manifest(project, "acme")
        return {env: resolve(project, manifest, env).release.strategy for env in ("dev", "prod")}

    # Nobody may reach the test listener (the default): rolling everywhere, and valid.
    assert strategies() == {"dev": "rolling", "prod": "rolling"}
    config.write_text(
        config.read_text().replace(
            "test_listener_cidrs: []", "test_listener_cidrs: [203.0.113.0/24]"
        )
    )
    assert strategies() == {"dev": "rolling", "prod": "blue_green"}


def test_shifting_strategy_of_a_tier_preset_is_named_in_the_project_config(
    cli, project_copy: Path
) -> None:
    config = project_copy / "cosydeploy.yaml"
    text = config.read_text()
    assert "\n  small:\n" in text
    config.write_text(
        text.replace("\n  small:\n", "\n  small:\n    release: {strategy: blue_green}\n")
    )
    (project_copy / "clients" / "acme.yaml").write_text(GOOD)
    r = cli("--project-dir", str(project_copy), "validate", "acme")
    assert r.exit_code == 2, r.output
    first = r.stderr.splitlines()[0]
    line = text[: text.index("\n  small:\n")].count("\n") + 3
    assert first.startswith(f"error: cosydeploy.yaml:{line}: tiers.small.release.strategy"), first
    assert "hint: set release.test_listener_cidrs" in r.stderr


def test_an_environment_name_inside_a_client_id_is_refused(cli, project_copy: Path) -> None:
    """Its stacks would fall under another environment's release role's name pattern
    (<project>-*-<env>): acme-prod's dev stack is cosyworld-acme-prod-dev."""
    (project_copy / "clients" / "acme-prod.yaml").write_text(
        GOOD.replace("client: acme", "client: acme-prod")
    )
    r = cli("--project-dir", str(project_copy), "validate", "acme-prod")
    assert r.exit_code == 2, r.output
    first = r.stderr.splitlines()[0]
    assert first.startswith("error: clients/acme-prod.yaml:1: client: client id 'acme-prod' has"), (
        first
    )
    assert "hint: each environment's release role" in r.stderr
    # As the first part it is only a name.
    (project_copy / "clients" / "prod-shop.yaml").write_text(
        GOOD.replace("client: acme", "client: prod-shop")
    )
    assert cli("--project-dir", str(project_copy), "validate", "prod-shop").exit_code == 0


def test_deeply_nested_project_config_is_exit_2(cli, project_copy: Path) -> None:
    config = project_copy / "cosydeploy.yaml"
    config.write_text(config.read_text() + "deep: " + "[" * 5000 + "]" * 5000 + "\n")
    r = cli("--project-dir", str(project_copy), "validate", "example")
    assert r.exit_code == 2, r.output
    first = r.stderr.splitlines()[0]
    assert re.match(r"error: cosydeploy\.yaml:\d+: nested more than \d+ levels deep", first), first
    assert "hint: " in r.stderr and "RecursionError" not in r.output


def test_nesting_a_manifest_needs_is_accepted(tmp_path: Path) -> None:
    from cosydeploy.config.yamlsrc import load_yaml

    path = tmp_path / "nested.yaml"
    path.write_text("a: " + "{b: " * 20 + "1" + "}" * 20 + "\n")
    data = load_yaml(path).data["a"]
    for _ in range(20):
        data = data["b"]
    assert data == 1


def test_unknown_client_is_exit_2(cli) -> None:
    r = cli("validate", "nobody")
    assert r.exit_code == 2
    assert (
        r.stderr.splitlines()[0]
        == "error: unknown client 'nobody': clients/nobody.yaml does not exist"
    )
    assert "hint: known clients: example" in r.stderr


def test_schema_lists_fields(cli) -> None:
    import json

    r = cli("schema")
    assert r.exit_code == 0
    schema = json.loads(r.stdout)
    assert schema["additionalProperties"] is False
    assert {"client", "aws", "environments", "tier"} <= set(schema["required"])


def test_error_line_field_format() -> None:
    from cosydeploy.errors import ConfigError

    e = ConfigError("must be x", file="clients/a.yaml", line=3, field="aws.account_id")
    assert re.fullmatch(r"clients/a\.yaml:3: aws\.account_id: must be x", str(e))


# Texts where YAML parsers are known to part ways: each must load (or be refused) the
# same with libyaml's parser as with PyYAML's own.
EDGES: list[bytes] = [
    GOOD.encode(),
    b"\xef\xbb\xbf" + GOOD.encode(),  # a byte order mark
    GOOD.replace("Acme", "Acme\u0085Co").encode(),  # NEL inside a plain scalar
    GOOD.replace("Acme", "Acme\ufffeCo").encode(),  # a noncharacter
    GOOD.replace("Acme", "Acme\x07").encode(),  # a control character
    GOOD.replace("Acme", '"Acme\\x07"').encode(),  # the same, escaped in quotes
    GOOD.replace("Acme", "\U0001f600").encode(),  # outside the BMP
    b"%YAML 1.1\n---\n" + GOOD.encode(),
    b"%YAML 1.3\n---\n" + GOOD.encode(),
    GOOD.encode() + b"---\nclient: other\n",  # two documents
    GOOD.encode() + b"...\n",
    GOOD.replace("tier: small", "tier: small # note").encode(),
    GOOD.replace("tier: small", "tier:small").encode(),
    GOOD.replace("tier: small", "tier: 2026-11-30").encode(),
    GOOD.replace("tier: small", "tier: 0o17").encode(),
    GOOD.replace("tier: small", "tier: 1_000").encode(),
    GOOD.replace("tier: small", "tier: .inf").encode(),
    GOOD.replace("tier: small", "tier: yes").encode(),
    GOOD.replace("tier: small", "tier: ~").encode(),
    GOOD.replace("tier: small", "tier: !!str 5").encode(),
    GOOD.replace("tier: small", "tier: !!int 0x").encode(),
    GOOD.replace("tier: small", "tier: !!float 1e").encode(),
    GOOD.replace("tier: small", "tier: &a small\nname2: *a").encode(),
    GOOD.replace("tier: small", "? tier\n: small").encode(),
    GOOD.replace("tier: small", "tier: |\n  a\n   b\n").encode(),
    GOOD.replace("tier: small", "tier: 'it''s'").encode(),
    GOOD.replace("tier: small", 'tier: "\\u00e9"').encode(),
    GOOD.replace("  dev: {}", "  dev: {a: 1,}").encode(),
    GOOD.replace("  dev: {}", "  dev: [1, 2,]").encode(),
    GOOD.replace("  region: us-east-1", "\tregion: us-east-1").encode(),
    GOOD.replace("tier: small", "tier: [small").encode(),
    b"[" * 70 + b"]" * 70,
    b"# only a comment\n",
    b"key: value\r\nother: 2\r\n",
    b"key: value\rother: 2\r",
]


@pytest.mark.parametrize("text", EDGES, ids=range(len(EDGES)))
def test_libyaml_and_pyyaml_load_a_manifest_alike(tmp_path: Path, text: bytes) -> None:
    """What libyaml loads, PyYAML loads the same (values and lines); what libyaml refuses,
    PyYAML decides, in its words: ``load_yaml`` always answers as PyYAML alone would."""
    import yaml

    from cosydeploy.config import yamlsrc
    from cosydeploy.errors import ConfigError

    path = tmp_path / "acme.yaml"
    path.write_bytes(text)

    def outcome(load: Any) -> tuple[Any, ...]:
        try:
            src = load()
        except ConfigError as exc:  # never a YAMLError: every refusal is one clear line
            return ("refused", str(exc), exc.line)
        return ("loaded", src.data, src.lines)

    def with_loader(loader: Any) -> Any:
        return lambda: yamlsrc._load(yaml, loader, "acme.yaml", path.read_text(encoding="utf-8"))

    pyyaml = outcome(with_loader(yaml.SafeLoader))
    libyaml = outcome(with_loader(yaml.CSafeLoader))
    if libyaml[0] == "loaded":
        assert libyaml == pyyaml
    assert outcome(lambda: yamlsrc.load_yaml(path, "acme.yaml")) == pyyaml
