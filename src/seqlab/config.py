"""Typed dataclass configs: from files and flags, validated, saved whole with the model.

A task's config is a dataclass whose fields are sections (dataclasses too);
the ``model`` section is polymorphic: its class is chosen by ``model_name``
from the task's model registry. Every leaf field becomes one CLI flag named
after it (``cell`` -> ``--cell``), so configs flow from the command line to
``config.json`` unchanged. Files are TOML (stdlib ``tomllib``), YAML (if
PyYAML is installed) or JSON; they are parsed, never executed.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError

MODEL_SECTION = "model"


# ---- validation: every config dataclass checks its values in ``__post_init__`` with these, so a config is
# valid from the moment it exists (built from flags, a file or a saved model directory, or by hand) and a
# bad setting is refused before any data is read, in words that name its flag and value.
def flag(name: str) -> str:
    """A setting's command-line flag: ``max_time`` -> ``--max-time``."""
    return "--" + name.replace("_", "-")


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def at_least(config: Any, minimum: int, *names: str) -> None:
    """Each named (integer) setting is ``>= minimum``; None (unset) passes."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not value >= minimum:
            raise SeqlabError(f"{flag(name)} must be >= {minimum}, got {_shown(value)}")


def positive(config: Any, *names: str) -> None:
    """Each named setting is a finite number > 0 (NaN and inf refused); None (unset) passes."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SeqlabError(f"{flag(name)} must be a positive number, got {_shown(value)}")


def non_negative(config: Any, *names: str) -> None:
    """Each named setting is a finite number >= 0 (NaN and inf refused); None (unset) passes."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise SeqlabError(f"{flag(name)} must be a number >= 0, got {_shown(value)}")


def probability(config: Any, *names: str, upper: str = ")") -> None:
    """Each named setting lies in [0, 1) (a dropout rate; ``upper="]"``: [0, 1]); NaN fails."""
    for name in names:
        value = getattr(config, name)
        if not (0.0 <= value < 1.0 or (upper == "]" and value == 1.0)):
            raise SeqlabError(f"{flag(name)} must be in [0, 1{upper}, got {_shown(value)}")


def choices(config: Any) -> None:
    """Each setting with declared ``choices`` (field metadata) holds one of them (``build`` checks files and flags
    first; this covers a config made by hand)."""
    for f in dataclasses.fields(config):
        allowed = f.metadata.get("choices")
        value = getattr(config, f.name)
        if allowed and value is not None and value not in allowed:
            names = [str(c) for c in allowed]
            listed = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
            raise SeqlabError(f"{flag(f.name)} must be {listed}, got {value!r}")


def divides(config: Any, divisor: str, width: str) -> None:
    """Setting ``divisor`` (>= 1) divides setting ``width`` (attention heads and a model width)."""
    at_least(config, 1, divisor, width)
    d, w = getattr(config, divisor), getattr(config, width)
    if w % d:
        raise SeqlabError(f"{flag(divisor)} {d} does not divide {flag(width)} {w}")


def require(ok: bool, message: str) -> None:
    """Any other rule of a config: refuse it with ``message`` (which names the flags and values)."""
    if not ok:
        raise SeqlabError(message)


def unknown_setting(name: str, known: typing.Iterable[str], what: str = "setting") -> str:
    """``unknown setting 'epocs' (did you mean epochs?)``: the closest known name, when one is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown {what} {name!r}{hint}"


def _field_type(cls: type, f: dataclasses.Field) -> Any:
    return typing.get_type_hints(cls)[f.name]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check/convert one value against a field type, with a message naming the setting."""
    base, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise SeqlabError(f"{where} may not be empty")
    try:
        if base is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1", "on"):
                    return True
                if value.lower() in ("false", "no", "0", "off"):
                    return False
                raise ValueError
            if isinstance(value, (bool, int)):
                return bool(value)
            raise ValueError
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base is str:
            if not isinstance(value, (str, int, float)):
                raise ValueError
            return str(value)
    except (TypeError, ValueError):
        raise SeqlabError(f"{where}: {value!r} is not a valid {getattr(base, '__name__', base)}") from None
    return value


def build(cls: type, data: Mapping[str, Any], where: str, *, saved: bool = False) -> Any:
    """Instantiate dataclass ``cls`` from a mapping, refusing unknown keys and bad values.

    Types and choices are checked here, each value's rules by the class's ``__post_init__``. ``saved``: the
    mapping was written into a model directory by an older seqlab; a field's ``upgrade`` metadata reads such a
    value as it is meant today (``--max-time 0`` once meant no limit), so old model directories still load.
    """
    if not isinstance(data, Mapping):
        raise SeqlabError(f"{where} must be a table/mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(fields), n=1)
        hint = f"did you mean {close[0]}?" if close and len(unknown) == 1 else f"known: {', '.join(fields)}"
        raise SeqlabError(f"unknown setting{'s' if len(unknown) > 1 else ''} in {where}: {', '.join(unknown)} "
                          f"({hint})")
    kwargs = {}
    for name, value in data.items():
        upgrade = fields[name].metadata.get("upgrade")
        if saved and upgrade is not None:
            value = upgrade(value)
        parse = fields[name].metadata.get("parse")  # e.g. durations: "90s", "1.5h" -> minutes
        if parse is not None:
            value = parse(value)
        kwargs[name] = coerce(value, _field_type(cls, fields[name]), f"{where}.{name}")
        choices = fields[name].metadata.get("choices")
        if choices and kwargs[name] is not None and kwargs[name] not in choices:
            raise SeqlabError(f"{where}.{name}: {kwargs[name]!r} is not one of {', '.join(map(str, choices))}")
    return cls(**kwargs)


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SeqlabError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise SeqlabError("YAML configs need PyYAML (pip install pyyaml); TOML works without it") from None
            data = yaml.safe_load(text) or {}
            if not isinstance(data, dict):
                raise SeqlabError(f"{path}: the top level must be a mapping")
            return data
        if path.suffix == ".json":
            return json.loads(text)
    except SeqlabError:
        raise
    except Exception as exc:
        raise SeqlabError(f"{path}: cannot parse: {exc}") from None
    raise SeqlabError(f"{path}: config files are .toml, .yaml/.yml or .json")


def _flag_bool(text: str) -> bool:
    """A boolean flag's optional value, as argparse expects: a bad one is a usage error, not a traceback."""
    try:
        return bool(coerce(text, bool, "flag"))
    except SeqlabError:
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false") from None


class TaskConfigSchema:
    """The sections of a task's config and its model registry, used for files, flags and saving."""

    def __init__(self, config_cls: type, models: Mapping[str, type],
                 recipes: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> None:
        """``recipes``: per model name, its best-known settings of the other sections (``{"train": {"lr": ...}}``),
        applied under a config file and flags, so the shortest command trains the benchmark's recipe. They are
        the one place a model's training defaults are set: the sections' dataclasses keep generic defaults."""
        self.config_cls = config_cls
        self.models = dict(models)
        self.recipes = {name: {section: dict(values) for section, values in recipe.items()}
                        for name, recipe in (recipes or {}).items()}
        self.sections = {f.name: _field_type(config_cls, f) for f in dataclasses.fields(config_cls)
                         if f.name not in (MODEL_SECTION, "model_name")}

    # ---- files and dictionaries -------------------------------------------------
    def from_dict(self, data: Mapping[str, Any]) -> Any:
        """A config saved whole (``config.json`` of a model directory, any seqlab version), rebuilt and checked."""
        return self._build(data, saved=True)

    def _build(self, data: Mapping[str, Any], saved: bool) -> Any:
        data = dict(data)
        unknown = sorted(set(data) - set(self.sections) - {MODEL_SECTION})
        if unknown:
            raise SeqlabError(f"unknown config section(s): {', '.join(unknown)} "
                              f"(known: {', '.join([*self.sections, MODEL_SECTION])})")
        model_data = dict(data.get(MODEL_SECTION) or {})
        model_name = model_data.pop("name", None) or self.default_model()
        if model_name not in self.models:
            raise SeqlabError(f"unknown model {model_name!r}; choose one of {', '.join(self.models)}")
        kwargs = {name: build(cls, data.get(name) or {}, name, saved=saved) for name, cls in self.sections.items()}
        kwargs[MODEL_SECTION] = build(self.models[model_name], model_data, f"model ({model_name})", saved=saved)
        kwargs["model_name"] = model_name
        return self.config_cls(**kwargs)

    def to_dict(self, config: Any) -> dict[str, Any]:
        out = {name: dataclasses.asdict(getattr(config, name)) for name in self.sections}
        out[MODEL_SECTION] = {"name": config.model_name, **dataclasses.asdict(config.model)}
        return out

    def default_model(self) -> str:
        return str(next(f.default for f in dataclasses.fields(self.config_cls) if f.name == "model_name"))

    # ---- command-line flags -----------------------------------------------------
    def _leaf_fields(self) -> dict[str, list[tuple[str, type, dataclasses.Field]]]:
        """flag dest -> [(section or model name, owner class, field)]."""
        leaves: dict[str, list[tuple[str, type, dataclasses.Field]]] = {}
        for section, cls in self.sections.items():
            for f in dataclasses.fields(cls):
                if f.name in leaves:
                    raise AssertionError(f"setting {f.name!r} appears in two sections")
                leaves[f.name] = [(section, cls, f)]
        for model_name, cls in self.models.items():
            for f in dataclasses.fields(cls):
                if f.name in leaves and leaves[f.name][0][0] in self.sections:
                    raise AssertionError(f"model setting {f.name!r} clashes with section {leaves[f.name][0][0]!r}")
                leaves.setdefault(f.name, []).append((f"{MODEL_SECTION}:{model_name}", cls, f))
        return leaves

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", dest="model_name", default=argparse.SUPPRESS, choices=list(self.models),
                            help=f"architecture (default {self.default_model()})")
        groups: dict[str, argparse._ArgumentGroup] = {}
        defaults = self._defaults()
        for dest, owners in self._leaf_fields().items():
            section, cls, f = owners[0]
            group_name = section if section in self.sections else "model settings"
            group = groups.setdefault(group_name, parser.add_argument_group(group_name))
            tp, _ = _unwrap_optional(_field_type(cls, f))
            flag = "--" + dest.replace("_", "-")
            help_text = f.metadata.get("help", "")
            if section.startswith(MODEL_SECTION):
                users = [o[0].split(":")[1] for o in owners]
                help_text += f" [{', '.join(users)}]"
            help_text = f"{help_text} {self._default_help(defaults.get(dest, {}))}".strip().replace("%", "%%")
            if tp is bool:  # --flag, --flag true|false (as configs and recorded commands write it), --no-flag
                group.add_argument(flag, dest=dest, nargs="?", const=True, type=_flag_bool, default=argparse.SUPPRESS,
                                   metavar="true|false", help=help_text)
                group.add_argument("--no-" + dest.replace("_", "-"), dest=dest, action="store_const", const=False,
                                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)
            else:
                # a setting shared by several models offers every model's choices (--pooling cls is a
                # transformer choice even though the rnn defines --pooling first); the config checks its own
                choices = [c for o in owners for c in (o[2].metadata.get("choices") or [])]
                group.add_argument(flag, dest=dest, default=argparse.SUPPRESS, metavar=dest.upper(),
                                   choices=list(dict.fromkeys(choices)) or None, help=help_text)

    def _defaults(self) -> dict[str, dict[str, Any]]:
        """Flag dest -> {model name: the setting's value when that model is trained from flags alone} (the
        dataclass default under the model's recipe; ``--help`` shows them, as argparse cannot: the flags' own
        defaults are SUPPRESS, so that only what was given overlays a config file)."""
        out: dict[str, dict[str, Any]] = {}
        for model_name in self.models:
            try:
                config = self.apply_flags({}, {"model_name": model_name})
            except SeqlabError:  # a model that cannot be built from defaults alone shows none
                continue
            for part in [*(getattr(config, name) for name in self.sections), config.model]:
                for f in dataclasses.fields(part):
                    out.setdefault(f.name, {})[model_name] = getattr(part, f.name)
        return out

    def _default_help(self, values: Mapping[str, Any]) -> str:
        """``(default 0.02)``, or ``(default 0.02; --model rnn 0.002)`` where recipes differ."""
        if not values:
            return ""

        def shown(value: Any) -> str:
            if value is None or isinstance(value, bool):
                return str(value).lower()  # none, true, false: as flags and config files write them
            return str(value) if isinstance(value, str) else _shown(value)

        first = self.default_model() if self.default_model() in values else next(iter(values))
        others = [f"--model {name} {shown(v)}" for name, v in values.items() if name != first and v != values[first]]
        return f"(default {shown(values[first])}{'; ' if others else ''}{', '.join(others)})"

    def apply_flags(self, base: dict[str, Any], flags: Mapping[str, Any]) -> Any:
        """Overlay explicitly given flags on a config dict (from a file or empty) and build it.

        Layers, lowest first: the dataclass defaults, the chosen model's recipe, the file, the flags.
        """
        data = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
        model = dict(data.get(MODEL_SECTION) or {})
        if "model_name" in flags and flags["model_name"] != model.get("name"):
            model = {"name": flags["model_name"]}  # settings of another architecture do not carry over
        model_name = model.get("name") or self.default_model()
        for section, values in self.recipes.get(model_name, {}).items():
            if section == MODEL_SECTION:
                model = {**values, **model}
            else:
                data[section] = {**values, **(data.get(section) or {})}
        leaves = self._leaf_fields()
        unknown = [dest for dest in flags if dest not in leaves and dest != "model_name"]
        if unknown:  # a misspelt setting would otherwise train with the default, silently
            raise SeqlabError(unknown_setting(unknown[0], [*leaves, "model"]))
        for dest, value in flags.items():
            if dest not in leaves:
                continue
            owners = leaves[dest]
            section = owners[0][0]
            if section in self.sections:
                data.setdefault(section, {})[dest] = value
                continue
            if f"{MODEL_SECTION}:{model_name}" not in [o[0] for o in owners]:
                users = ", ".join(o[0].split(":")[1] for o in owners)
                raise SeqlabError(f"--{dest.replace('_', '-')} does not apply to --model {model_name} "
                                  f"(it is a setting of: {users})")
            model[dest] = value
        model["name"] = model_name
        data[MODEL_SECTION] = model
        return self._build(data, saved=False)
