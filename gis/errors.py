"""The errors every package raises for a user to act on, and those for bad input data.

:class:`WanggeError` is the base: what is wrong (and what to do) in Chinese and English. It
lives here because gis is the bottom package, importable from every other one. Every message of
:class:`InputError` names the file, the feature (when there is one), what is wrong and what to
do, so that a street-office user can fix the file without reading code.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path


class WanggeError(Exception):
    """An error a user can act on, its message in Chinese and in English.

    Every domain error derives from it (``InputError`` and ``ArgumentError`` here,
    ``partition.plan.PlanError``,
    ``dispatch.staffing.workers.AssignmentError``, ``dispatch.incidents.errors.IncidentError``,
    ``maps.assets.AssetsError``), each also from the built-in error it has always been
    (ValueError, RuntimeError) so that existing handlers still catch it. The command line
    prints :meth:`bilingual`; the service answers with the status and code its error table
    (api.errors) gives the class, and both messages. ``str()`` is "<zh> / <en>".

    Attributes:
        zh, en: the message in Chinese and in English.
    """

    def __init__(self, message_zh: str, message_en: str) -> None:
        self.zh = message_zh  # the names api.errors.ApiError uses too
        self.en = message_en
        super().__init__(f"{message_zh} / {message_en}")

    def message(self, lang: str = "en") -> str:
        """The message in ``lang`` ("zh" or "en")."""
        return self.zh if lang == "zh" else self.en

    def bilingual(self) -> str:
        """Chinese first, then English, as the command line prints it."""
        return f"{self.message('zh')}\n{self.message('en')}"


class ArgumentError(WanggeError, ValueError):
    """A value given to a public function or command that it cannot use (an unknown datum or
    language, a layer without a CRS, a network without streets): what is wrong and what to
    give instead. Still a ValueError, as it was before it was bilingual."""


class InputError(WanggeError, ValueError):
    """Bad input data: raised before anything is written.

    Attributes:
        path: the file that holds the problem (or None for in-memory data).
        feature: the offending feature (an id, a row number, an OSM element), or None.
        problem: what is wrong, in English.
        hint: what the user should do about it, in English.
        problem_zh, hint_zh: the same in Chinese.
    """

    def __init__(
        self,
        path: str | Path | None,
        problem: str,
        hint: str,
        *,
        feature: str | None = None,
        problem_zh: str | None = None,
        hint_zh: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.feature = feature
        self.problem = problem
        self.hint = hint
        self.problem_zh = problem_zh or problem
        self.hint_zh = hint_zh or hint
        super().__init__(self._located("zh"), self._located("en"))

    def _located(self, lang: str) -> str:
        """File, feature, what is wrong and what to do, in ``lang``."""
        where = self.path or "<data>"
        if lang == "zh":
            at = f"{where}" + (f"，要素 {self.feature}" if self.feature else "")
            return f"{at}：{self.problem_zh}。处理办法：{self.hint_zh}"
        at = where + (f", feature {self.feature}" if self.feature else "")
        return f"{at}: {self.problem}. What to do: {self.hint}"


class DataRepairWarning(UserWarning):
    """Input was usable only after a repair (for example an invalid polygon made valid)."""


@dataclass
class Repair:
    """One kind of repair made to input data, with how many features it touched."""

    path: str | None
    what: str
    count: int
    examples: list[str]

    def __str__(self) -> str:
        shown = ", ".join(self.examples[:5])
        more = f" (e.g. {shown})" if shown else ""
        return f"{self.path or '<data>'}: {self.what}: {self.count}{more}"


def warn_repair(repair: Repair) -> None:
    """Emit ``repair`` as a :class:`DataRepairWarning`."""
    warnings.warn(str(repair), DataRepairWarning, stacklevel=3)


def check_file(path: str | Path) -> Path:
    """Return ``path`` as a Path, raising :class:`InputError` when it is missing or empty."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found", "check the path and file name",
                         problem_zh="文件不存在", hint_zh="检查路径和文件名")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(
            path,
            "the file is empty (0 bytes)",
            "export the data again; the file was probably cut off during download or copy",
            problem_zh="文件为空（0 字节）",
            hint_zh="重新导出数据，文件可能在下载或复制时被截断",
        )
    return path
