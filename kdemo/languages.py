"""ISO 639-1 language codes kdemo accepts, with English names for display."""

from __future__ import annotations

from kdemo.errors import KdemoError

LANGUAGE_NAMES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "az": "Azerbaijani", "be": "Belarusian",
    "bg": "Bulgarian", "bn": "Bengali", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech",
    "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ka": "Georgian",
    "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean", "ku": "Kurdish",
    "ky": "Kyrgyz", "la": "Latin", "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian",
    "ml": "Malayalam", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "my": "Burmese",
    "nb": "Norwegian Bokmål", "ne": "Nepali", "nl": "Dutch", "no": "Norwegian", "pa": "Punjabi",
    "pl": "Polish", "ps": "Pashto", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "si": "Sinhala", "sk": "Slovak", "sl": "Slovenian", "so": "Somali", "sq": "Albanian",
    "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu",
    "tg": "Tajik", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian",
    "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese",
    "zu": "Zulu",
}

# ISO 639-2/3 codes that public corpora (NTREX, FLORES) use in file names.
_THREE_LETTER = {
    "arb": "ar", "ara": "ar", "ces": "cs", "deu": "de", "ell": "el", "eng": "en", "fin": "fi",
    "fra": "fr", "heb": "he", "hin": "hi", "ind": "id", "ita": "it", "jpn": "ja", "kor": "ko",
    "nld": "nl", "pol": "pl", "por": "pt", "rus": "ru", "spa": "es", "swe": "sv", "tur": "tr",
    "ukr": "uk", "vie": "vi", "zho": "zh", "cmn": "zh",
}


def normalize_code(code: str, where: str = "") -> str:
    """Map a language tag such as ``de``, ``DE``, ``zh-CN``, ``zho_Hans`` or ``deu`` to ISO 639-1.

    Raises ``KdemoError`` naming ``where`` (a file or header) when the tag is unknown.

    Example:
        >>> normalize_code("zh-CN")
        'zh'
    """
    raw = code.strip()
    base = raw.lower().replace("_", "-").split("-")[0]
    base = _THREE_LETTER.get(base, base)
    if base not in LANGUAGE_NAMES:
        place = f" in {where}" if where else ""
        raise KdemoError(
            f"Unknown language code {raw!r}{place}. Use ISO 639-1 codes such as en, de, fr, zh."
        )
    return base


def language_name(code: str) -> str:
    """English name of a code, or the code itself when unknown.

    Example:
        >>> language_name("ja")
        'Japanese'
    """
    return LANGUAGE_NAMES.get(code, code)
