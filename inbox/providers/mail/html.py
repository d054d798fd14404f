"""The HTML of client mail, made safe to show: sanitized once when the mail is stored (nh3,
the Ammonia sanitizer: no script, no event handlers, no forms, no frames, no styles that
reach outside the message), and rendered in a sandboxed frame under its own
Content-Security-Policy (inbox.views.mail_html).

Remote images are kept in the stored HTML but not loaded until the manager asks: `render`
blanks their address unless `images` is true. Tracking pixels (an image of 0-2 px, or one
hidden) are dropped when the mail is stored and never come back.
"""

import html as html_lib
import re

import nh3

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "ins", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
_COMMON = {"align", "valign", "dir", "lang", "title", "width", "height", "bgcolor", "color"}
ATTRIBUTES = {
    "*": _COMMON,
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "border"},
    "font": {"face", "size", "color"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "table": {"border", "cellpadding", "cellspacing"},
    "col": {"span"},
    "ol": {"start", "type"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
_PIXEL_SIZE = re.compile(r"^\s*[0-2](px)?\s*$")


def _drop_pixels(element: str, attribute: str, value: str) -> str | None:
    if element == "img" and attribute in ("width", "height") and _PIXEL_SIZE.match(value):
        return "__pixel__"
    return value


_PIXEL_IMG = re.compile(r"<img\b[^>]*__pixel__[^>]*>", re.IGNORECASE)


def sanitize(html: str) -> str:
    """What of a mail's HTML may ever be shown (stored as such)."""
    cleaned = nh3.clean(
        html[:2_000_000], tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow", strip_comments=True,
        attribute_filter=_drop_pixels,
        # <style> and <title> are dropped with their text; <head> and the like with theirs.
        clean_content_tags={"script", "style", "title", "head", "noscript", "template",
                            "object", "iframe", "svg", "math"},
    )
    return _PIXEL_IMG.sub("", cleaned)


_REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


def render(html: str, *, images: bool, cid_urls: dict[str, str]) -> str:
    """The stored HTML as shown: inline images (cid:) point at their attachments, remote ones
    load only when `images`; links open outside the frame."""

    def rewrite(element: str, attribute: str, value: str) -> str | None:
        if element == "img" and attribute == "src":
            if value.lower().startswith("cid:"):
                return cid_urls.get(value[4:].strip("<>"))
            if _REMOTE.match(value) and not images:
                return None
        return value

    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer nofollow", attribute_filter=rewrite,
                     set_tag_attribute_values={"a": {"target": "_blank"}})


def has_remote_images(html: str) -> bool:
    return bool(re.search(r"<img\b[^>]*\bsrc=\"(https?:)?//", html, re.IGNORECASE))


_BLOCK_END = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h[1-6]|/blockquote|/table)\b[^>]*>",
                        re.IGNORECASE)


def to_text(html: str) -> str:
    """The text of an HTML-only mail: its lines where the HTML broke them, no markup."""
    marked = _BLOCK_END.sub("\n", html[:2_000_000])
    text = nh3.clean(marked, tags=set(), clean_content_tags={"script", "style", "head",
                                                             "title"})
    text = html_lib.unescape(text).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_BOLD = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])_(\S(?:.*?\S)?)_(?![\w*])")
_LINK = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")


def _inline(line: str) -> str:
    line = html_lib.escape(line, quote=True)
    line = _BOLD.sub(r"<b>\1</b>", line)
    line = _ITALIC.sub(r"<i>\1</i>", line)
    return _LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', line)


def from_plain(text: str, *, quoted: str = "") -> str:
    """The HTML alternative of a manager's reply: what they typed, escaped, with the simple
    formatting a mail reader expects (paragraphs, **bold**, _italic_, links, lines starting
    with "- " as a list), the quoted history as a quotation under it."""
    blocks: list[str] = []
    items: list[str] = []
    paragraph: list[str] = []

    def flush():
        if paragraph:
            blocks.append("<p>" + "<br>".join(paragraph) + "</p>")
            paragraph.clear()
        if items:
            blocks.append("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        if line.lstrip().startswith(("- ", "• ")):
            if paragraph:
                flush()
            items.append(_inline(line.lstrip()[2:]))
        elif not line.strip():
            flush()
        else:
            if items:
                flush()
            paragraph.append(_inline(line))
    flush()
    if quoted:
        lines = [line[1:].lstrip() if line.startswith(">") else line
                 for line in quoted.splitlines()]
        head, body = (lines[0], lines[1:]) if lines else ("", [])
        blocks.append(f"<p>{html_lib.escape(head)}</p><blockquote style=\"margin:0 0 0 .8ex;"
                      f"border-left:1px solid #ccc;padding-left:1ex\">"
                      + "<br>".join(html_lib.escape(line) for line in body) + "</blockquote>")
    return "<!doctype html><html><body>" + "".join(blocks) + "</body></html>"
