"""Vietnamese text helpers: names keep their diacritics, search ignores them."""
import unicodedata


def fold(text: str | None) -> str:
    """Lower-case, strip diacritics and collapse spaces: "Karaoke Hoa Hồng" → "karaoke hoa hong".

    "đ"/"Đ" is a letter of its own in Unicode (not d + a mark), so it is mapped explicitly.
    """
    if not text:
        return ""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return " ".join(stripped.lower().split())
