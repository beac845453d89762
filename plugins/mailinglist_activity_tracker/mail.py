"""Raw RFC 822 messages -> the fields a ``ml_messages`` row stores, with the standard library.

Nothing here raises on bad input: a header that cannot be decoded, an unknown charset, a date
that does not parse or a broken MIME structure leaves what could be read plus a parse
warning (``ParsedMail.warnings``), so a message is never dropped silently and never stops a
run. Also: HyperKitty's ``message_id_hash``, its address obfuscation, and the body cleaning
the vector documents use (quotes, attributions, signatures, list footers, PGP armor).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import email.errors
import email.header
import email.message
import email.policy
import email.utils
import hashlib
import html
import re
from typing import Any

__all__ = [
    "ParsedMail",
    "clean_body",
    "deobfuscate",
    "message_id_hash",
    "normalize_message_id",
    "parse_message",
]

_HASH = re.compile(r"^[A-Z2-7]{32}$")


def normalize_message_id(raw: str) -> str:
    """A Message-ID as HyperKitty keys it: whitespace removed, without the angle brackets."""
    return email.utils.unquote(re.sub(r"\s", "", raw)).strip("<>")


def message_id_hash(raw_message_id: str) -> str:
    """HyperKitty's ``message_id_hash``: base32 of the SHA-1 of the bare Message-ID."""
    bare = normalize_message_id(raw_message_id)
    return base64.b32encode(
        hashlib.sha1(bare.encode("utf-8", "surrogateescape"), usedforsecurity=False).digest()
    ).decode()


def is_message_id_hash(value: str) -> bool:
    return bool(_HASH.match(value))


def deobfuscate(address: str | None) -> str | None:
    """HyperKitty shows ``user (a) example.com``; stored as ``user@example.com``, lower-cased."""
    if not address:
        return None
    plain = re.sub(r"\s*\(a\)\s*", "@", address.strip())
    return plain.lower() or None


@dataclasses.dataclass
class ParsedMail:
    """What could be read from one raw message; ``warnings`` says what could not."""

    message_id: str
    message_id_hash: str
    subject: str = ""
    sender_address: str | None = None
    sender_name: str | None = None
    sent_at: dt.datetime | None = None
    in_reply_to: str | None = None  # bare Message-ID of the parent (In-Reply-To, else last References)
    content: str = ""
    attachments: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


def _decode_bytes(data: bytes, charset: str | None, what: str, warnings: list[str]) -> str:
    name = (charset or "").strip().strip('"').lower() or None
    if name in (None, "us-ascii", "ascii"):
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            name = None  # 8-bit bytes under an ASCII (or no) label: most often UTF-8
    if name is not None:
        try:
            return data.decode(name)
        except LookupError:
            warnings.append(f"{what}: unknown charset {name!r}, read as UTF-8/Latin-1")
        except UnicodeDecodeError:
            warnings.append(f"{what}: bytes invalid in charset {name!r}, read as UTF-8/Latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_header(value: Any, what: str, warnings: list[str]) -> str:
    """A header value as text: RFC 2047 encoded words decoded, unknown charsets tolerated,
    folding removed."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        chunks = value._chunks  # type: ignore[attr-defined]
        text = "".join(str(chunk) for chunk, _charset in chunks)
    else:
        text = str(value)
    if any("\udc80" <= c <= "\udcff" for c in text):
        # 8-bit bytes in a header (compat32 keeps them as surrogates): most often UTF-8.
        raw = text.encode("ascii", "surrogateescape")
        text = _decode_bytes(raw, None, what, warnings)
    try:
        parts = email.header.decode_header(text)
    except (email.errors.HeaderParseError, ValueError) as exc:
        warnings.append(f"{what}: undecodable header ({exc})")
        parts = [(text, None)]
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(_decode_bytes(chunk, charset, what, warnings))
        else:
            out.append(chunk)
    joined = "".join(out) if len(parts) > 1 else (out[0] if out else "")
    return re.sub(r"\s*\r?\n\s*", " ", joined).strip()


def parse_date(value: str, warnings: list[str]) -> dt.datetime | None:
    """``Date:`` in UTC; a time zone that cannot be true (beyond +-14:00) is read as UTC with a
    warning; an unparseable date is ``None`` with a warning."""
    if not value:
        warnings.append("Date: missing")
        return None
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        warnings.append(f"Date: unparseable {value[:60]!r}")
        return None
    offset = parsed[9] or 0
    if abs(offset) > 14 * 3600:
        warnings.append(f"Date: impossible time zone in {value[:60]!r}, read as UTC")
        offset = 0
    try:
        naive = dt.datetime(*parsed[:6])
    except (ValueError, OverflowError):
        warnings.append(f"Date: out of range {value[:60]!r}")
        return None
    return (naive - dt.timedelta(seconds=offset)).replace(tzinfo=dt.UTC)


def _references(message: email.message.Message, warnings: list[str]) -> str | None:
    for header in ("In-Reply-To", "References"):
        raw = decode_header(message.get(header), header, warnings)
        ids = re.findall(r"<([^<>\s]+)>", raw)
        if ids:
            return normalize_message_id(ids[-1] if header == "References" else ids[0])
        if raw.strip() and header == "In-Reply-To" and "@" in raw and " " not in raw.strip():
            return normalize_message_id(raw)  # an id without brackets
    return None


def _strip_html(text: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", " ", text)
    text = re.sub(r"(?i)<br\s*/?>|</p>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _body(message: email.message.Message, warnings: list[str]) -> tuple[str, list[dict[str, Any]]]:
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[dict[str, Any]] = []
    for number, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
        filename = None
        try:
            filename = part.get_filename()
        except Exception:  # noqa: BLE001 - a broken parameter is only a missing name
            warnings.append(f"part {number}: unreadable file name")
        try:
            payload = part.get_payload(decode=True)
        except Exception as exc:  # noqa: BLE001 - a broken transfer encoding
            warnings.append(f"part {number}: undecodable payload ({type(exc).__name__})")
            payload = None
        if not isinstance(payload, bytes):
            raw = part.get_payload()
            payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        if filename or disposition == "attachment" or not content_type.startswith("text/"):
            attachments.append(
                {
                    "counter": len(attachments) + 1,
                    "name": decode_header(filename, f"part {number} name", warnings) if filename else None,
                    "content_type": content_type,
                    "size": len(payload),
                }
            )
            continue
        text = _decode_bytes(payload, part.get_content_charset(), f"part {number}", warnings)
        if content_type == "text/html":
            htmls.append(_strip_html(text))
        else:
            texts.append(text.replace("\r\n", "\n"))
    for defect in getattr(message, "defects", []) or []:
        warnings.append(f"MIME: {type(defect).__name__}")
    content = "\n\n".join(t.strip("\n") for t in texts) if texts else "\n\n".join(htmls)
    return content, attachments


def parse_message(
    raw: bytes | email.message.Message, *, fallback_date: dt.datetime | None = None
) -> ParsedMail:
    """Read one raw message; never raises (see the module doc). ``fallback_date`` (an mbox
    ``From `` line's date) stands in for a missing or unreadable ``Date:``."""
    warnings: list[str] = []
    if isinstance(raw, email.message.Message):
        message = raw
    else:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
    message_id = decode_header(message.get("Message-ID"), "Message-ID", warnings)
    if not normalize_message_id(message_id):
        body = raw if isinstance(raw, bytes) else message.as_bytes()
        message_id = f"<missing-{hashlib.sha256(body).hexdigest()[:32]}@mailinglist.invalid>"
        warnings.append("Message-ID: missing, one derived from the message bytes")
    bare = normalize_message_id(message_id)
    from_text = decode_header(message.get("From"), "From", warnings)
    name, address = email.utils.parseaddr(from_text)
    if "@" not in address and " (a) " not in address:
        warnings.append(f"From: no address in {from_text[:60]!r}")
        name, address = name or from_text or "", ""
    sent_at = parse_date(decode_header(message.get("Date"), "Date", warnings), warnings)
    if sent_at is None and fallback_date is not None:
        sent_at = fallback_date
    try:
        content, attachments = _body(message, warnings)
    except Exception as exc:  # noqa: BLE001 - keep the headers of a message whose body is beyond repair
        warnings.append(f"body: unreadable ({type(exc).__name__}: {exc})")
        content, attachments = "", []
    return ParsedMail(
        message_id=bare,
        message_id_hash=message_id_hash(bare),
        subject=decode_header(message.get("Subject"), "Subject", warnings),
        sender_address=deobfuscate(address),
        sender_name=name or None,
        sent_at=sent_at,
        in_reply_to=_references(message, warnings),
        content=content,
        attachments=attachments,
        warnings=warnings,
    )


# ---------------------------------------------------------------------- body cleaning (documents)

_ATTRIBUTION = re.compile(
    r"^\s*(on\b.{0,200}\bwrote:?|.{0,120}\b(wrote|writes|a écrit|schrieb)\s*:)\s*$", re.IGNORECASE
)
_FOOTER_START = re.compile(r"^_{20,}\s*$")
_PGP_SIGNED = re.compile(r"^-----BEGIN PGP SIGNED MESSAGE-----\s*$")
_PGP_SIG_START = re.compile(r"^-----BEGIN PGP SIGNATURE-----\s*$")
_PGP_SIG_END = re.compile(r"^-----END PGP SIGNATURE-----\s*$")


def clean_body(text: str) -> str:
    """The author's own words: quoted lines (``>``), attribution lines ("On ... wrote:"),
    the signature after ``-- ``, Mailman list footers and PGP armor removed."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    in_sig_block = False
    skip_hash_header = False
    for index, line in enumerate(lines):
        if _PGP_SIGNED.match(line):
            skip_hash_header = True
            continue
        if skip_hash_header:
            if line.strip() == "":
                skip_hash_header = False
            continue  # "Hash: SHA256" lines up to the blank line
        if _PGP_SIG_START.match(line):
            in_sig_block = True
            continue
        if in_sig_block:
            if _PGP_SIG_END.match(line):
                in_sig_block = False
            continue
        if line.rstrip("\r") == "-- " or line == "--":
            break  # signature: the rest of the message
        if _FOOTER_START.match(line) and any(
            marker in "\n".join(lines[index + 1 : index + 6]).lower()
            for marker in ("mailing list", "unsubscribe", "listinfo", "lists.")
        ):
            break
        if line.lstrip().startswith(">"):
            continue
        if _ATTRIBUTION.match(line):
            continue
        if line.startswith("- -"):  # dash-escaped line of a clear-signed message
            line = line[2:]
        out.append(line.rstrip())
    cleaned = "\n".join(out).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", cleaned)
