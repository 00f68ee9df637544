"""Safe YAML loading that remembers where every value came from.

PyYAML's composer gives each node its line; we build plain Python data from the
node tree ourselves so that we can refuse what a manifest must never contain
(duplicate keys, anchors and aliases, non-standard tags) and map any later
validation error back to ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosydeploy.errors import ConfigError

Path_ = tuple[str | int, ...]

_MAX_BYTES = 1_000_000
# Far deeper than any manifest; deep enough nesting would exhaust Python's recursion
# limit in the composer and in everything that walks the data afterwards.
_MAX_DEPTH = 64
_STD_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


@dataclass
class Source:
    """Parsed YAML data plus the line of every value, keyed by its path."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest known prefix of ``path``."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None


def _fail(file: str, mark: Any, message: str, hint: str | None = None) -> ConfigError:
    line = mark.line + 1 if mark is not None else None
    return ConfigError(message, file=file, line=line, hint=hint)


def load_yaml(path: Path, display: str | None = None) -> Source:
    """Load one YAML document safely, with a line map; raise ConfigError on anything odd."""
    import yaml

    file = display or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", file=file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=file) from None
    if len(raw) > _MAX_BYTES:
        raise ConfigError(
            "file is larger than 1 MB", file=file, hint="a manifest is a short YAML file"
        )
    if b"\x00" in raw:
        raise ConfigError(
            "binary data, not YAML text", file=file, hint="a manifest is UTF-8 YAML text"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            "not valid UTF-8 text", file=file, line=line, hint="save the file as UTF-8"
        ) from None
    if not text.strip():
        raise ConfigError("file is empty", file=file, hint="start from clients/example.yaml")

    # libyaml's parser when PyYAML has it (a fleet's manifests are read on every command:
    # 209 of them load in 0.10 s instead of 0.52 s), and PyYAML's own for the message
    # when the text is refused, so a refusal reads the same wherever it is made.
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return _load(yaml, fast, file, text)
        except (ConfigError, yaml.YAMLError):
            pass
    return _load(yaml, yaml.SafeLoader, file, text)


def _load(yaml: Any, loader_class: Any, file: str, text: str) -> Source:
    try:
        loader = loader_class(text)  # PyYAML's reads every character here
        try:
            depth = 0
            while loader.check_event():
                event = loader.get_event()
                if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                    raise _fail(
                        file,
                        event.start_mark,
                        "YAML anchors and aliases are not allowed",
                        "write values out in full",
                    )
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    if depth > _MAX_DEPTH:
                        raise _fail(
                            file,
                            event.start_mark,
                            f"nested more than {_MAX_DEPTH} levels deep",
                            "a manifest nests a few levels of mappings and lists; "
                            "check for unclosed brackets or braces",
                        )
                elif isinstance(event, yaml.CollectionEndEvent):
                    depth -= 1
        finally:
            loader.dispose()
        loader = loader_class(text)
        node = loader.get_single_node()
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        hint = (
            "YAML indentation uses spaces, not tabs"
            if "\\t" in problem or "tab" in problem
            else ("check the YAML syntax near this line")
        )
        raise _fail(file, mark, f"YAML syntax error: {problem}", hint) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(
            f"character U+{char:04X} is not allowed in YAML ({exc.reason})",
            file=file,
            line=line,
            hint="remove it, or write it as an escape in a double-quoted string",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=file) from None
    if node is None:
        raise ConfigError(
            "file holds no YAML document", file=file, hint="start from clients/example.yaml"
        )

    src = Source(file=file, data=None)
    src.data = _build(loader, node, (), src)
    return src


def _build(loader: Any, node: Any, path: Path_, src: Source) -> Any:
    import yaml

    src.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            raise _fail(src.file, node.start_mark, f"tag {node.tag!r} is not allowed")
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _fail(src.file, key_node.start_mark, "mapping keys must be plain strings")
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _fail(src.file, key_node.start_mark, "merge keys (<<) are not allowed")
            key = _scalar(loader, key_node, src)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise _fail(
                    src.file,
                    key_node.start_mark,
                    f"{_dotted((*path, key))}: duplicate key",
                    f"the key {key!r} appears twice; keep one",
                )
            out[key] = _build(loader, value_node, (*path, key), src)
            src.lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise _fail(src.file, node.start_mark, f"tag {node.tag!r} is not allowed")
        return [_build(loader, item, (*path, i), src) for i, item in enumerate(node.value)]
    return _scalar(loader, node, src)


def _scalar(loader: Any, node: Any, src: Source) -> Any:
    if node.tag not in _STD_SCALAR_TAGS and node.tag != "tag:yaml.org,2002:timestamp":
        raise _fail(
            src.file,
            node.start_mark,
            f"tag {node.tag!r} is not allowed",
            "manifests hold plain strings, numbers, booleans, lists and mappings",
        )
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value  # keep dates as the text the user wrote
    import yaml

    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, KeyError, yaml.YAMLError):  # an explicit tag on a value not of it
        kind = node.tag.rsplit(":", 1)[-1]
        raise _fail(
            src.file,
            node.start_mark,
            f"{node.value!r} is not a valid {kind} (it is tagged !!{kind})",
            f"drop the !!{kind} tag, or give it a value of that type",
        ) from None


def _dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def dotted(path: Path_) -> str:
    """``('environments', 'prod', 'cpu')`` -> ``environments.prod.cpu``; list items as ``[i]``."""
    return _dotted(path)
