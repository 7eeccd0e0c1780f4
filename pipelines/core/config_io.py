"""TOML presets and ``--set section.key=value`` overrides into the frozen :class:`hipart.config.Config`.

Unknown sections or keys and values of the wrong type are user errors, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from hipart.config import Config
from pipelines.core.errors import UserError


def _coerce(value, annotation, where: str):
    origin = typing.get_origin(annotation)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {value!r}")
        (item_type, _ellipsis) = typing.get_args(annotation)
        return tuple(_coerce(v, item_type, where) for v in value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float, str, bool):
        if not isinstance(value, annotation) or (annotation is int and isinstance(value, bool)):
            raise UserError(f"{where}: expected {annotation.__name__}, got {value!r}")
        return value
    raise UserError(f"{where}: unsupported field type {annotation}")


def _apply(config, overrides: dict, where: str):
    hints = typing.get_type_hints(type(config))
    changes = {}
    for key, value in overrides.items():
        if key not in hints:
            known = ", ".join(f.name for f in dataclasses.fields(config))
            raise UserError(f"{where}: unknown key '{key}' (known: {known})")
        current = getattr(config, key)
        name = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise UserError(f"{name}: expected a table of settings, got {value!r}")
            changes[key] = _apply(current, value, name)
        else:
            changes[key] = _coerce(value, hints[key], name)
    return dataclasses.replace(config, **changes)


def parse_set(assignment: str) -> dict:
    """'msst.enc_dim=64' -> {'msst': {'enc_dim': 64}}; the value is parsed as TOML, else a string."""
    if "=" not in assignment:
        raise UserError(f"--set {assignment!r}: expected section.key=value")
    dotted, raw = assignment.split("=", 1)
    parts = dotted.strip().split(".")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    tree: dict = value
    for part in reversed(parts):
        tree = {part: tree}
    return tree


def load_config(path: str | Path | None = None, sets: list[str] | tuple[str, ...] = ()) -> Config:
    """Paper defaults, then the TOML file (or a preset's name: paper, tiny), then each --set in order."""
    from pipelines.core.paths import PRESETS

    config = Config()
    if path is not None:
        path = PRESETS[str(path)] if str(path) in PRESETS and not Path(path).is_file() else Path(path)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: not valid TOML ({exc})") from None
        config = _apply(config, data, str(path))
    for assignment in sets:
        config = _apply(config, parse_set(assignment), "--set")
    return config


def config_from_dict(data: dict) -> Config:
    """Rebuild a Config saved with :func:`config_to_dict` (e.g. from a checkpoint)."""
    return _apply(Config(), data, "saved config")


def config_to_dict(config) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def dump_toml(config) -> str:
    """TOML text of a config (sections of scalars and lists), readable back by :func:`load_config`."""
    lines = []
    for section, values in config_to_dict(config).items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
        lines.append("")
    return "\n".join(lines)


# Sections that enter a stage's key only when set: added after stage directories were first named, they keep
# the directories of runs that leave them at their defaults.
KEYED_WHEN_SET = ("viewpoints",)


def config_hash(config, *sections: str) -> str:
    """sha256 of the given sections (all when none), for reusing finished stages."""
    data = config_to_dict(config)
    if sections:
        data = {s: data[s] for s in sections}
    defaults = config_to_dict(type(config)()) if hasattr(config, "viewpoints") else {}
    for section in KEYED_WHEN_SET:
        if section in data and section in defaults and data[section] == defaults[section]:
            del data[section]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
