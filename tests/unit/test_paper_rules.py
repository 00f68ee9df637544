"""The sandbox's paper rules (which services run without containers, which fail)."""

from __future__ import annotations

import pytest

from cosydeploy.errors import SandboxError
from cosydeploy.sandbox.paper import PaperApp, PaperRules, image_version


def test_paper_globs_match_cluster_or_cluster_and_service() -> None:
    rules = PaperRules.parse(["cosyworld-a*"], ["cosyworld-bad-*/app,after=1"])
    assert rules.on_paper("cosyworld-acme-dev", "app")
    assert rules.on_paper("cosyworld-bad-dev", "app")  # a fail rule puts it on paper too
    assert not rules.on_paper("cosyworld-zeta-dev", "app")
    assert not rules.on_paper("cosyworld-bad-dev", "worker")
    assert not rules.fails("cosyworld-acme-dev", "app", completed=5)
    assert not rules.fails("cosyworld-bad-dev", "app", completed=0)  # its first completes
    assert rules.fails("cosyworld-bad-dev", "app", completed=1)
    assert not PaperRules.parse(None, None)
    assert PaperRules.parse(["*"], None).on_paper("any", "thing")


def test_rules_round_trip_as_command_line_options() -> None:
    rules = PaperRules.parse(["*"], ["x*", "y*,after=2"])
    assert rules.as_args() == ["--paper", "*", "--paper-fail", "x*", "--paper-fail", "y*,after=2"]
    assert PaperRules.parse(["*"], ["x*", "y*,after=2"]) == rules


@pytest.mark.parametrize(
    ("paper", "fail", "says"),
    [
        ([], [",after=1"], "no pattern"),
        ([], ["x*,before=1"], "unknown option 'before=1'"),
        ([], ["x*,after=two"], "unknown option 'after=two'"),
        ([" "], [], "empty pattern"),
    ],
)
def test_bad_rules_are_one_clear_error(paper, fail, says) -> None:
    with pytest.raises(SandboxError) as err:
        PaperRules.parse(paper, fail)
    assert says in err.value.message and err.value.hint


def test_a_paper_task_answers_its_health_path_and_version() -> None:
    app = PaperApp("v7", "/health/ready")
    assert app.reply("/health/ready") == (200, b"ok\n")
    assert app.reply("/version?x=1") == (200, b"v7\n")
    assert app.reply("/")[0] == 404


def test_the_version_served_is_the_images_tag() -> None:
    ecr = {("cosyworld", "sha256:ab"): ["v2"]}

    def tags(repo: str, digest: str) -> list[str]:
        return ecr.get((repo, digest), [])

    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert image_version(f"{host}/cosyworld@sha256:ab", tags) == "v2"
    assert image_version(f"{host}/cosyworld:bootstrap", tags) == "bootstrap"
    assert image_version("localhost:5000/app", tags) == "latest"
    assert image_version(f"{host}/cosyworld@sha256:cd", tags) == "sha256:cd"
