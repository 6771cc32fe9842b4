"""Message catalogs: Simplified Chinese first, English second.

Catalogs are Babel ``.po`` files shipped in the package and compiled in memory
when the app is built, so there is no build step to forget. ``?lang=en`` (or
``zh``) switches and is remembered in a cookie; anything else gets Chinese.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("zh_Hans", "en")
DEFAULT = "zh_Hans"
HTML_LANG = {"zh_Hans": "zh-Hans", "en": "en"}
COOKIE = "qq_lang"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


@dataclass(frozen=True)
class Catalogs:
    translations: dict[str, gettext.NullTranslations]

    @classmethod
    def load(cls) -> "Catalogs":
        found: dict[str, gettext.NullTranslations] = {}
        base = resources.files("qiaoqiao.intake") / "locale"
        for locale in LOCALES:
            po = base / locale / "LC_MESSAGES" / "messages.po"
            if not po.is_file():
                found[locale] = gettext.NullTranslations()
                continue
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=locale.replace("_Hans", ""))
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            found[locale] = gettext.GNUTranslations(buffer)
        return cls(translations=found)

    def get(self, locale: str) -> gettext.NullTranslations:
        return self.translations.get(locale) or self.translations[DEFAULT]


def pick_locale(query_lang: str | None, cookie_lang: str | None) -> str:
    """The page language: an explicit ``lang`` first, then the cookie, then Chinese."""
    for candidate in (query_lang, cookie_lang):
        if not candidate:
            continue
        if candidate.lower().startswith("en"):
            return "en"
        if candidate.lower().startswith("zh"):
            return "zh_Hans"
    return DEFAULT
