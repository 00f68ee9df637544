"""The release workflow's shards (pure): which runner releases which clients, and the
per-client chain dev -> staging -> prod each runner follows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cosydeploy.ci_plan import MATRIX_LIMIT, plan_shards, release_plan, shard_count, split_shards
from cosydeploy.config.load import load_project
from cosydeploy.config.targets import previous_env
from cosydeploy.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
FLEET = [f"client{i:03d}" for i in range(500)]


def where(shards: list[list[str]]) -> dict[str, int]:
    return {c: i for i, shard in enumerate(shards) for c in shard}


def test_every_client_is_in_exactly_one_shard_whatever_the_order_given() -> None:
    shards = split_shards(FLEET, 20)
    assert sorted(c for s in shards for c in s) == FLEET
    assert all(s == sorted(s) for s in shards)
    assert split_shards(list(reversed(FLEET)) + FLEET[:10], 20) == shards


def test_500_clients_at_25_a_shard_make_20_full_shards() -> None:
    assert shard_count(500, 25) == 20
    assert [len(s) for s in split_shards(FLEET, 20, 25)] == [25] * 20
    # 470 clients still need 19 shards; none goes over 25
    sizes = [len(s) for s in split_shards(FLEET[:470], shard_count(470, 25), 25)]
    assert len(sizes) == 19 and max(sizes) <= 25 and sum(sizes) == 470


def test_adding_or_removing_a_client_moves_few_others() -> None:
    # A split of the sorted list would move every client after the new one; hashing
    # moves at most a handful (measured over these fleets: 4 at worst).
    for base in range(402, 500, 7):
        count = shard_count(base, 25)
        if shard_count(base + 1, 25) != count:
            continue
        before = where(split_shards(FLEET[:base], count, 25))
        after = where(split_shards([*FLEET[:base], "newco"], count, 25))
        moved = [c for c in FLEET[:base] if before[c] != after[c]]
        assert len(moved) <= 4, (base, moved)
    before = where(split_shards(FLEET, 20, 25))
    after = where(split_shards(FLEET[1:], 20, 25))
    assert sum(before[c] != after[c] for c in FLEET[1:]) <= 4


def test_small_fleets() -> None:
    assert split_shards([], 3) == []
    assert split_shards(["acme"], 5) == [["acme"]]  # never an empty shard
    assert split_shards(["acme", "globex", "initech"], 1) == [["acme", "globex", "initech"]]
    two = split_shards(["acme", "globex", "initech"], 2)
    assert sorted(map(len, two)) == [1, 2]  # an even share: at most ceil(3 / 2)
    assert split_shards(["acme", "globex"], 9) == [["acme"], ["globex"]]


@pytest.mark.parametrize(
    ("has", "env", "expected"),
    [
        (("dev", "staging", "prod"), "dev", None),
        (("dev", "staging", "prod"), "staging", "dev"),
        (("dev", "staging", "prod"), "prod", "staging"),
        (("dev", "prod"), "prod", "dev"),  # no staging: prod follows dev
        (("staging", "prod"), "staging", None),  # no dev: staging is its first
        (("prod",), "prod", None),
    ],
)
def test_the_previous_environment_is_the_clients_own(has, env, expected) -> None:
    assert previous_env(("dev", "staging", "prod"), has, env) == expected


# ------------------------------------------------------------------ the plan


def project_with(tmp_path: Path, clients: dict[str, tuple[str, str, str | None]]) -> Path:
    """A project whose clients have the given (dev, staging, prod) accounts (None: no
    such environment)."""
    shutil.copy(ROOT / "cosydeploy.yaml", tmp_path / "cosydeploy.yaml")
    (tmp_path / "clients").mkdir()
    text = (ROOT / "clients" / "example.yaml").read_text()
    for cid, accounts in clients.items():
        envs = "".join(
            f"  {env}:\n    aws: {{account_id: '{acct}'}}\n"
            for env, acct in zip(("dev", "staging", "prod"), accounts, strict=True)
            if acct
        )
        body = text.replace("client: example", f"client: {cid}")
        head, _, rest = body.partition("environments:\n")
        rest = rest[rest.index("\napp:") :]
        (tmp_path / "clients" / f"{cid}.yaml").write_text(f"{head}environments:\n{envs}{rest}")
    return tmp_path


A, B = "111111111111", "222222222222"


def with_registry(root: Path) -> Path:
    """Clients in several accounts need the registry account named."""
    cfg = root / "cosydeploy.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "  repository: cosyworld\n", f"  repository: cosyworld\n  registry_account_id: '{A}'\n"
        )
    )
    return root


def test_only_clients_sharing_their_accounts_share_a_shard(tmp_path) -> None:
    root = project_with(
        tmp_path,
        {
            "acme": (A, A, B),
            "globex": (A, A, B),
            "initech": (A, A, A),
            "umbrella": (None, A, B),
        },
    )
    plan = release_plan(
        load_project(str(with_registry(root))), "v1.2.0", ["acme globex initech", "umbrella"]
    )
    shards = plan["shards"]
    # umbrella (no dev) shares the accounts acme and globex have for staging and prod
    assert [s["clients"] for s in shards] == [["initech"], ["acme", "globex", "umbrella"]]
    assert [s["shard"] for s in shards] == ["1-of-2", "2-of-2"]
    alone, three = shards
    assert three["prod"] == {
        "account_id": B,
        "region": "us-east-1",
        "release_role_arn": f"arn:aws:iam::{B}:role/cosyworld-prod-release",
        "args": "--client acme --client globex --client umbrella",
    }
    assert three["dev"]["release_role_arn"] == f"arn:aws:iam::{A}:role/cosyworld-dev-release"
    assert three["dev"]["args"] == "--client acme --client globex"
    assert alone["prod"]["account_id"] == A
    assert (plan["max_parallel"], plan["parallel"]) == (10, 10)  # cosydeploy.yaml's ci


def test_shards_asked_for_and_an_environment_only_some_clients_have(tmp_path) -> None:
    root = project_with(tmp_path, {"acme": (A, A, A), "globex": (A, None, A), "initech": (A, A, A)})
    plan = release_plan(load_project(str(root)), "v1.2.0", ["acme", "globex", "initech"], 2)
    by_client = {c: s for s in plan["shards"] for c in s["clients"]}
    assert len(plan["shards"]) == 2
    for cid in ("acme", "globex", "initech"):
        shard = by_client[cid]
        assert cid in args_of(shard["dev"]) and cid in args_of(shard["prod"])
        assert (cid in args_of(shard["staging"])) == (cid != "globex")


def args_of(entry: dict | None) -> list[str]:
    """The clients a shard's job releases (its --client arguments)."""
    if entry is None:
        return []
    words = entry["args"].split()
    assert words[::2] == ["--client"] * (len(words) // 2)
    return words[1::2]


def test_more_shards_than_a_matrix_runs_is_refused() -> None:
    rows = [
        {"client": f"c{i}", "dev": {"account_id": A, "region": "r", "release_role_arn": "x"}}
        | {"staging": None, "prod": None}
        for i in range(MATRIX_LIMIT + 1)
    ]
    assert len(plan_shards(rows[:MATRIX_LIMIT], None, 1)) == MATRIX_LIMIT
    with pytest.raises(UsageError, match="at most 256") as exc:
        plan_shards(rows, None, 1)
    assert "max_clients_per_shard" in (exc.value.hint or "")


def test_ci_plan_shards_through_the_cli(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from cosydeploy.cli.main import app

    root = project_with(tmp_path, {"acme": (A, A, A), "globex": (A, A, A), "initech": (A, A, A)})
    monkeypatch.setenv("NO_COLOR", "1")
    r = CliRunner().invoke(
        app, ["--project-dir", str(root), "ci", "plan", "v1.0.0", "acme globex initech"]
    )
    assert r.exit_code == 0, r.output
    one = json.loads(r.stdout)["shards"]
    assert [s["clients"] for s in one] == [["acme", "globex", "initech"]]  # 3 <= 25: one runner
    r = CliRunner().invoke(
        app,
        [
            "--project-dir",
            str(root),
            "ci",
            "plan",
            "v1.0.0",
            "acme globex initech",
            "--shards",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    two = json.loads(r.stdout)["shards"]
    assert sorted(len(s["clients"]) for s in two) == [1, 2]
