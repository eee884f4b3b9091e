"""The customer's language: English or Simplified Chinese, chosen by ``Accept-Language``.

One message catalogue per language (``static/locales/<locale>.json``) serves both the pages, which fetch
it, and the API's customer-facing sentences (decision reasons, photo-quality issues), rendered here
from each reason's code and the values it names. A sentence whose values are missing (quotes stored
before reasons carried them) keeps the sentence the model wrote.

A reason a retake could fix (a poor photo, a declared part not confirmed, no damage found) asks for a photo
only when the claim's outcome is a retake; otherwise it is said as what an adjuster will look at
(``reason.<code>.review``), so no sentence asks for what the claim no longer allows. A part is said with its
side when the reason names one (``left Door``, 左侧车门).
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Header, Response

Locale = Literal["en", "zh-CN"]
LOCALES: tuple[Locale, ...] = ("en", "zh-CN")
DEFAULT_LOCALE: Locale = "en"
CATALOGUES = Path(__file__).resolve().parents[1] / "static" / "locales"


def negotiate(accept_language: str | None) -> Locale:
    """The best of our locales for an ``Accept-Language`` header (q-values honoured); English otherwise."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip().lower()))
    for _q, _i, tag in sorted(ranked):
        if tag == "zh" or tag.startswith(("zh-cn", "zh-hans", "zh-sg")):
            return "zh-CN"
        if tag == "en" or tag.startswith("en-") or tag == "*":
            return "en"
    return DEFAULT_LOCALE


@cache
def messages(locale: Locale) -> Mapping[str, str]:
    """The message catalogue of one locale."""
    data: dict[str, str] = json.loads((CATALOGUES / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def placeholders(template: str) -> set[str]:
    """The ``{names}`` a message template needs."""
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}


def money(value: float, currency: str, locale: Locale) -> str:
    """An amount as a customer reads it: whole units with thousands separators and the currency as the
    catalogue words it (``currency.CNY``): 8,580 CNY, 8,580 元; the pages' ``AQ.price`` writes the same."""
    return f"{value:,.0f} {messages(locale).get(f'currency.{currency}', currency)}"


def _values(params: Mapping[str, object], locale: Locale) -> dict[str, str]:
    cat = messages(locale)
    out = {k: str(v) for k, v in params.items()}
    currency = str(params.get("currency", ""))
    for key in ("total", "limit", "low", "high"):
        if isinstance(params.get(key), int | float):
            out[key] = money(float(params[key]), currency, locale)  # type: ignore[arg-type]
    if "part" in params:
        out["part"] = part_name(str(params["part"]), str(params.get("side") or ""), locale)
    if "issues" in params:
        codes = [c for c in str(params["issues"]).split(",") if c]
        rest = {k: v for k, v in params.items() if k != "issues"}
        out["issues"] = cat["list.separator"].join(issue_message(c, rest, locale, c) for c in codes)
        out["problems"] = cat["list.separator"].join(cat.get(f"quality.short.{c}", c) for c in codes)
    return out


def part_name(part: str, side: str, locale: Locale) -> str:
    """A part as the customer reads it, with its side when one is given: ``left Door``, 左侧车门."""
    cat = messages(locale)
    name = cat.get(f"part.{part}", part)
    if not side:
        return name
    return cat["part.sided"].format(side=cat.get(f"side.{side}", side), part=name)


def _render(key: str, params: Mapping[str, object], locale: Locale, fallback: str) -> str:
    template = messages(locale).get(key)
    if template is None:
        return fallback
    values = _values(params, locale)
    if not placeholders(template) <= values.keys():
        return fallback
    return template.format(**values)


def reason_message(
    code: str, params: Mapping[str, object], locale: Locale, fallback: str, retake: bool = True
) -> str:
    """A decision reason's sentence in ``locale``; without a retake (``retake`` False), the sentence that does
    not ask for a photo where the reason has one."""
    review = f"reason.{code}.review"
    if not retake and review in messages(locale):
        return _render(review, params, locale, fallback)
    return _render(f"reason.{code}", params, locale, fallback)


def issue_message(code: str, params: Mapping[str, object], locale: Locale, fallback: str) -> str:
    """A photo-quality issue's sentence in ``locale``."""
    return _render(f"quality.{code}", params, locale, fallback)


def get_locale(
    response: Response, accept_language: Annotated[str | None, Header(alias="Accept-Language")] = None
) -> Locale:
    """The caller's locale; the response says which it is and that it varies with the header."""
    locale = negotiate(accept_language)
    response.headers["Content-Language"] = locale
    response.headers["Vary"] = "Accept-Language"
    return locale


LocaleDep = Annotated[Locale, Depends(get_locale)]
