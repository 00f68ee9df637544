"""The wave grammar of a fleet release (pure): ``--waves canary,rest`` or a file of waves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cosydeploy.errors import UsageError


def waves_from_option(
    value: str | None, clients: Sequence[str], base: Path | None = None
) -> list[list[str]]:
    """``--waves``: a spec (``canary,rest``) or a YAML/JSON file of waves; None = one wave."""
    if value is None:
        return parse_waves(None, clients)
    path = Path(value)
    if base is not None and not path.is_absolute() and not path.exists():
        path = base / value
    if path.suffix.lower() in {".yaml", ".yml", ".json"} or path.is_file():
        if not path.is_file():
            raise UsageError(f"--waves: no file {value}", hint="give canary,rest or a file")
        import yaml

        try:
            data = yaml.safe_load(path.read_text())  # JSON is YAML
        except yaml.YAMLError as exc:
            raise UsageError(f"{value}: not YAML/JSON: {exc}".splitlines()[0]) from None
        if isinstance(data, Mapping):
            data = data.get("waves")
        if not isinstance(data, list):
            raise UsageError(
                f"{value}: waves: expected a list of waves",
                hint="e.g. waves: [[acme], rest] or [{canary: 2}, rest]",
            )
        return parse_waves(data, clients, source=value)
    return parse_waves(value, clients)


def parse_waves(
    spec: str | Sequence[Any] | None, clients: Sequence[str], *, source: str = "--waves"
) -> list[list[str]]:
    """Resolve a wave spec into lists of client ids (pure).

    Items (comma separated in a string, or list items in a file): ``rest`` (every
    client not in another wave), ``canary`` (the first remaining client),
    ``canary:N`` / ``canary=N`` (the first N), ``canary:CLIENT`` (that client), a
    number N (the next N clients), ``a+b`` or a list (those clients), a client id.
    Every client must land in exactly one wave; empty waves are dropped.
    """
    order = list(dict.fromkeys(clients))
    if spec is None or spec == "" or spec == []:
        return [order] if order else []
    items: list[Any] = spec.split(",") if isinstance(spec, str) else list(spec)
    known = set(order)
    explicit: set[str] = set()
    parsed: list[tuple[str, Any]] = []  # (kind, value)
    for raw in items:
        kind, value = _wave_item(raw, source)
        if kind == "names":
            for name in value:
                if name not in known:
                    raise UsageError(
                        f"{source}: client {name!r} is not one of this release's clients",
                        hint=f"clients: {', '.join(order)}",
                    )
                if name in explicit:
                    raise UsageError(f"{source}: client {name!r} is in two waves")
                explicit.add(name)
        parsed.append((kind, value))
    pool = [c for c in order if c not in explicit]
    waves: list[list[str]] = []
    has_rest = False
    for kind, value in parsed:
        if kind == "names":
            waves.append(list(value))
        elif kind == "count":
            waves.append(pool[:value])
            pool = pool[value:]
        elif kind == "rest":
            if has_rest:
                raise UsageError(f"{source}: 'rest' given twice")
            has_rest = True
            waves.append([])  # filled below, once every count has taken its share
    if has_rest:
        idx = next(i for i, (k, _) in enumerate(parsed) if k == "rest")
        waves[idx] = pool
        pool = []
    if pool:
        raise UsageError(
            f"{source}: client(s) in no wave: {', '.join(pool)}",
            hint="end the spec with 'rest', e.g. --waves canary,rest",
        )
    return [w for w in waves if w]


def _wave_item(raw: Any, source: str) -> tuple[str, Any]:
    if isinstance(raw, list | tuple):
        names = [str(x).strip() for x in raw]
        return "names", [n for n in names if n]
    if isinstance(raw, Mapping):
        if set(raw) != {"canary"}:
            raise UsageError(
                f"{source}: unknown wave {dict(raw)!r}",
                hint="a wave is a list of clients, rest, or {canary: N|CLIENT}",
            )
        raw = f"canary:{raw['canary']}"
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise UsageError(f"{source}: empty or unreadable wave {raw!r}")
    text = raw.strip()
    if text == "rest":
        return "rest", None
    if text == "canary":
        return "count", 1
    if text.startswith(("canary:", "canary=")):
        arg = text[7:].strip()
        if arg.isdigit():
            if int(arg) < 1:
                raise UsageError(f"{source}: canary count must be at least 1")
            return "count", int(arg)
        return "names", [arg]
    if text.isdigit():
        if int(text) < 1:
            raise UsageError(f"{source}: a wave of {text} clients is empty")
        return "count", int(text)
    return "names", [n.strip() for n in text.split("+") if n.strip()]
