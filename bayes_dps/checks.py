"""Value checks and typed settings, shared by the library's components and the config schema.

A check knows its type and range, normalises what it accepts (an integer ``2`` for a float
key becomes ``2.0``) and raises :class:`ConfigError` naming the key, the value and what would
be accepted. Booleans are booleans (``1`` or ``"yes"`` are not), integers are integers (``1.5``
and ``2.0`` are not), numbers are finite, and every size has an upper bound, so that no value
can make a run allocate without limit before anything else is checked.

A component's settings are a frozen dataclass of :class:`Settings` whose fields are made with
:func:`setting` — default, check and one line of documentation in one place. The component
validates them when it is built (``BADSSettings(eta_w=-1)`` names ``bads.eta_w``), and the
config schema builds its section of keys from the same fields, so the library and the
``bayes-dps`` command share every default.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from bayes_dps.errors import ConfigError

#: upper bound of step counts (a value beyond it is a typo, not an experiment)
MAX_STEPS = 10**7


def memory_bytes() -> int:
    """The machine's physical memory, the bound of what one input or network may take (a large
    default where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2**40


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened to ``limit`` characters (errors stay one readable line)."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Check:
    """Base class: ``check(key, value)`` returns the normalised value or raises."""

    def check(self, key: str, value: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        """What is accepted, in words (the "values" column of the config reference)."""
        raise NotImplementedError

    def fail(self, key: str, value: Any, hint: str = "") -> ConfigError:
        return ConfigError(f"{key} must be {self.describe()}, got {show(value)}{hint}")


def _bound(x: float) -> str:
    if isinstance(x, float) and (abs(x) >= 1e5 or 0 < abs(x) < 1e-3):
        return f"{x:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    return f"{x:,}".replace(",", "_") if is_int(x) and abs(x) >= 10_000 else str(x)


@dataclass(frozen=True)
class Int(Check):
    low: int | None = None
    high: int | None = None

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an integer in [{_bound(self.low)}, {_bound(self.high)}]"
        if self.low is not None:
            return f"an integer >= {_bound(self.low)}"
        return "an integer"

    def check(self, key: str, value: Any) -> int:
        if not is_int(value):
            hint = " (write it without a decimal point)" if is_number(value) else ""
            raise self.fail(key, value, hint)
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            raise self.fail(key, value)
        return value


@dataclass(frozen=True)
class Float(Check):
    """A finite real number in an interval (``low_open``/``high_open``: the end is excluded)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        if self.low is not None and self.high is not None:
            return f"a number in {lo}{_bound(self.low)}, {_bound(self.high)}{hi}"
        if self.low is not None:
            return f"a number {'>' if self.low_open else '>='} {_bound(self.low)}"
        return "a finite number"

    def check(self, key: str, value: Any) -> float:
        if not is_number(value) or not math.isfinite(value):
            raise self.fail(key, value)
        low_bad = self.low is not None and (
            value <= self.low if self.low_open else value < self.low
        )
        high_bad = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        if low_bad or high_bad:
            raise self.fail(key, value)
        return float(value)


@dataclass(frozen=True)
class Bool(Check):
    def describe(self) -> str:
        return "true or false"

    def check(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, value, f" (--set {key}=true or {key}=false)")
        return value


@dataclass(frozen=True)
class Str(Check):
    """A non-empty string of at most ``max_len`` characters, optionally matching ``pattern``."""

    pattern: str | None = None
    what: str = "a non-empty string"
    max_len: int = 4096

    def describe(self) -> str:
        return self.what

    def check(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value or len(value) > self.max_len:
            raise self.fail(key, value)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise self.fail(key, value)
        return value


@dataclass(frozen=True)
class Choice(Check):
    options: tuple[str, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(f"`{o}`" for o in self.options)

    def check(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise ConfigError(f"{key} must be one of {', '.join(self.options)}, got {show(value)}")
        return value


@dataclass(frozen=True)
class Nullable(Check):
    """``null`` or what ``inner`` accepts."""

    inner: Check

    def describe(self) -> str:
        return f"`null` or {self.inner.describe()}"

    def check(self, key: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.inner.check(key, value)
        except ConfigError as err:
            text = str(err)
            head = f"{key} must be "
            if text.startswith(head):  # say that null is accepted too
                raise ConfigError(f"{head}`null` or {text[len(head) :]}") from None
            raise


@dataclass(frozen=True)
class Either(Check):
    """The first of several checks that accepts the value (``threads: auto | 1..256``)."""

    options: tuple[Check, ...]

    def describe(self) -> str:
        return " or ".join(o.describe() for o in self.options)

    def check(self, key: str, value: Any) -> Any:
        for option in self.options:
            try:
                return option.check(key, value)
            except ConfigError:
                continue
        raise self.fail(key, value)


@dataclass(frozen=True)
class ListOf(Check):
    item: Check
    min_len: int = 0
    max_len: int = 1000
    unique: bool = False

    def describe(self) -> str:
        size = f"{self.min_len} to {self.max_len}" if self.min_len else f"at most {self.max_len}"
        return f"a list of {size} items, each {self.item.describe()}"

    def check(self, key: str, value: Any) -> list:
        if not isinstance(value, list) or not self.min_len <= len(value) <= self.max_len:
            raise self.fail(key, value, self._one_item_hint(key, value))
        out = [self.item.check(f"{key}[{i}]", v) for i, v in enumerate(value)]
        if self.unique and len(set(map(repr, out))) != len(out):
            raise ConfigError(f"{key} lists an entry twice: {show(value)}")
        return out

    def _one_item_hint(self, key: str, value: Any) -> str:
        """``; for one item write key=[value]`` when ``value`` is a valid item on its own."""
        if isinstance(value, list) or isinstance(value, dict):
            return ""
        try:
            self.item.check(key, value)
        except ConfigError:
            return ""
        return f"; for one item write {key}=[{value}]"


@dataclass(frozen=True)
class Seeds(Check):
    """A list of seeds, or a count ``n`` meaning ``0..n-1`` (bounded before the list is built)."""

    max_count: int = 1000

    def describe(self) -> str:
        return (
            f"a count in [1, {self.max_count}] (seeds 0..n-1) or a list of up to "
            f"{self.max_count} distinct integers in [0, 2^31)"
        )

    def check(self, key: str, value: Any) -> list[int]:
        if is_int(value):
            if not 1 <= value <= self.max_count:
                raise self.fail(key, value)
            return list(range(value))
        seed = Int(0, 2**31 - 1)
        return ListOf(seed, 1, self.max_count, unique=True).check(key, value)


@dataclass(frozen=True)
class Mapping(Check):
    """A mapping with string keys; ``validate(key, mapping)`` checks its contents (it may
    normalise them) — used where the keys depend on another choice (a model's options, a
    prior's parameters)."""

    what: str = "a mapping"
    validate: Callable[[str, dict], dict] | None = None
    max_len: int = 100

    def describe(self) -> str:
        return self.what

    def check(self, key: str, value: Any) -> dict:
        if (
            not isinstance(value, dict)
            or len(value) > self.max_len
            or not all(isinstance(k, str) for k in value)
        ):
            raise self.fail(key, value)
        return dict(value) if self.validate is None else self.validate(key, dict(value))


@dataclass(frozen=True)
class Struct(Check):
    """A mapping with fixed keys, each with its own check (missing keys get their default)."""

    fields: dict[str, tuple[Check, Any]]

    def describe(self) -> str:
        return "a mapping {" + ", ".join(self.fields) + "}"

    def check(self, key: str, value: Any) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, value)
        unknown = sorted(set(map(str, value)) - set(self.fields))
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown} in {key}; it takes {', '.join(self.fields)}"
            )
        out = {}
        for name, (check, default) in self.fields.items():
            if name in value:
                out[name] = check.check(f"{key}.{name}", value[name])
            elif default is REQUIRED:
                raise ConfigError(f"{key} needs {name} ({check.describe()})")
            else:
                out[name] = default
        return out


#: marks a :class:`Struct` field without a default
REQUIRED = object()


def setting(default: Any, check: Check, doc: str, shown: str | None = None) -> Any:
    """A :class:`Settings` field: its ``default``, the ``check`` of its values and ``doc`` (one
    line, shown in the config reference; ``shown`` replaces the default there)."""
    return field(default=default, metadata={"check": check, "doc": doc, "shown": shown})


@dataclass(frozen=True)
class Settings:
    """Base of a component's typed settings (fields made with :func:`setting`, checked when
    the object is built; errors name ``<section>.<field>``)."""

    section: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata.get("check")
            if check is not None:
                key = f"{self.section}.{f.name}" if self.section else f.name
                object.__setattr__(self, f.name, check.check(key, getattr(self, f.name)))

    @classmethod
    def build(cls, **values: Any) -> Settings:
        """The settings with ``values`` over the defaults; an unknown name is a
        :class:`ConfigError` listing the known ones (not a ``TypeError``)."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown {cls.section or cls.__name__} setting(s) {unknown}; known: "
                + ", ".join(known)
            )
        return cls(**values)
