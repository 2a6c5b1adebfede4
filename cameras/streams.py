"""Camera stream URLs: one defensive parser for what we accept, one redactor for what we show.

``parse_stream_url`` accepts ``scheme://[user[:password]@]host[:port][/path][?query]`` with a
scheme in ``STREAM_SCHEMES``, a host, a port in 1..65535, at most ``MAX_STREAM_URL_LENGTH``
characters and no whitespace or control characters. Its errors (``StreamUrlError``) never
quote the user name, the password or the text a password could be hiding in.

``redact_url`` never raises: it keeps the user name of the userinfo and masks the password
(``rtsp://admin:***@cam/x``; a userinfo without ``:`` is a token and is masked whole,
``***@cam``), masks the value of every credential-like parameter in the path, query and fragment
(``?user=***&password=***``), takes everything before the last ``@`` as userinfo (so a raw ``/``,
``?``, ``#`` or ``@`` in a password is still masked), and returns ``REDACTED`` for a string it
cannot split. ``redact_urls_in_text`` applies it to every URL inside free text (log lines,
error pages).

Pure standard library plus Django's ``sensitive_variables``: the logging filter imports this
module while Django configures logging.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus, urlsplit

from django.views.decorators.debug import sensitive_variables

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
MAX_STREAM_URL_LENGTH = 2048
MASK = "***"
REDACTED = "***"  # what redact_url shows for a string it cannot split

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_PREFIX = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*:)?(?://)?")
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._\-]*[A-Za-z0-9])?")
_PORT = re.compile(r"[0-9]+")
_ENCODE_HINT = "percent-encode '@', '/', '?', '#' and ':' inside the user name or password (%40, %2F, %3F, %23, %3A)"

# A parameter is a credential when its name contains one of these ...
_SECRET_PARTS = ("pass", "pwd", "token", "secret", "auth", "signature", "credential", "apikey", "api_key",
                 "session", "login", "cookie", "bearer", "private")
# ... or one of its words (split at non-letters and camelCase) is one of these.
_SECRET_WORDS = frozenset({"key", "sig", "user", "username", "usr", "uid", "pw", "pin", "u", "p", "jwt", "sid"})


class StreamUrlError(ValueError):
    """A stream URL we refuse; the message is safe to show (it quotes no credentials)."""


@dataclass(frozen=True)
class StreamUrl:
    scheme: str
    host: str
    port: int | None
    path: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    query: str = field(default="", repr=False)
    raw: str = field(default="", repr=False)

    @property
    def redacted(self) -> str:
        return redact_url(self.raw)

    def __repr__(self) -> str:
        return f"StreamUrl({self.redacted!r})"


def _bad_char(raw: str) -> int | None:
    for i, ch in enumerate(raw):
        if ch.isspace() or not ch.isprintable():
            return i
    return None


@sensitive_variables()
def parse_stream_url(raw: object) -> StreamUrl:
    if not isinstance(raw, str):
        raise StreamUrlError(f"a stream URL must be a string, got {type(raw).__name__}")
    if len(raw) > MAX_STREAM_URL_LENGTH:
        raise StreamUrlError(f"stream URL is {len(raw)} characters long; at most {MAX_STREAM_URL_LENGTH} are allowed")
    bad = _bad_char(raw)
    if bad is not None:
        raise StreamUrlError(f"stream URL contains whitespace or a control character at position {bad}; "
                             "percent-encode it (a space is %20)")
    scheme_match = _SCHEME.match(raw)
    if scheme_match is None:
        raise StreamUrlError(f"stream URL must start with a scheme: one of {[s + '://' for s in STREAM_SCHEMES]}")
    scheme = scheme_match.group(1).lower()
    if scheme not in STREAM_SCHEMES:
        shown = repr(scheme) if len(scheme) <= 16 else "of that name"
        raise StreamUrlError(f"unsupported stream URL scheme {shown}; use one of {list(STREAM_SCHEMES)}")
    if not raw[scheme_match.end():].startswith("//"):
        raise StreamUrlError(f"stream URL must look like {scheme}://[user:password@]host[:port]/path: "
                             f"'//' is missing after '{scheme}:'")
    try:
        parts = urlsplit(raw)
    except ValueError as err:  # urlsplit's own message may quote the netloc, password included
        if "IPv6" in str(err):
            raise StreamUrlError("stream URL host is a malformed IPv6 address: '[' without ']'") from None
        raise StreamUrlError("stream URL cannot be split into scheme://host[:port]/path") from None
    if "@" in raw[len(scheme) + 3 + len(parts.netloc):]:
        raise StreamUrlError(f"stream URL has an '@' after the host; {_ENCODE_HINT}")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, port_text = _split_host_port(hostport, has_userinfo=bool(at))
    port = _parse_port(port_text, has_userinfo=bool(at))
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username, password = unquote(user), (unquote(secret) if colon else None)
    return StreamUrl(scheme=scheme, host=host, port=port, path=parts.path, username=username, password=password,
                     query=parts.query, raw=raw)


def _split_host_port(hostport: str, *, has_userinfo: bool) -> tuple[str, str | None]:
    """``host`` / ``[v6]`` plus the text after its ``:`` (None without one). Quotes nothing."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise StreamUrlError("stream URL host is a malformed IPv6 address: '[' without ']'")
        host, rest = hostport[1:end], hostport[end + 1:]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise StreamUrlError("stream URL host in [brackets] is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise StreamUrlError("stream URL has text after the ']' of its IPv6 host; only ':port' may follow")
        return host, (rest[1:] if rest else None)
    host, colon, port_text = hostport.partition(":")
    if not host:
        raise StreamUrlError("stream URL has no host: use scheme://[user:password@]host[:port]/path")
    if not _HOST_NAME.fullmatch(host):
        hint = "" if has_userinfo else f"; {_ENCODE_HINT}"
        raise StreamUrlError("stream URL host must be a host name or an IP address (letters, digits, '.', '-', '_'; "
                             f"IPv6 in [brackets], international names in punycode){hint}")
    return host, (port_text if colon else None)


def _parse_port(port_text: str | None, *, has_userinfo: bool) -> int | None:
    if port_text is None:
        return None
    if not port_text:
        raise StreamUrlError("stream URL has a ':' after the host but no port; give a port in 1..65535 or drop the ':'")
    # Without an '@', "host:port" may be a mistyped "user:password": never quote it then.
    hint = "" if has_userinfo else f" (not shown: without an '@' it may be a password; {_ENCODE_HINT})"
    if not _PORT.fullmatch(port_text):
        got = f", got {port_text!r}" if has_userinfo and len(port_text) <= 16 else ""
        raise StreamUrlError(f"stream URL port must be a number in 1..65535{got}{hint}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        got = f" {port}" if has_userinfo and len(port_text) <= 16 else ""
        raise StreamUrlError(f"stream URL port{got} is out of range 1..65535{hint}")
    return port


def is_credential_name(name: str) -> bool:
    """``password``, ``access_token``, ``apiKey``, ``X-Amz-Signature``, ``user``: names whose values we mask."""
    plain = unquote_plus(name).strip()
    lowered = plain.lower()
    if any(part in lowered for part in _SECRET_PARTS):
        return True
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", plain).lower())
    return any(word in _SECRET_WORDS for word in words)


def _mask_pair(piece: str) -> str:
    """``password=x`` -> ``password=***``; ``ch=1_password=x`` (one camera brand's path) -> ``ch=1_password=***``."""
    name, eq, value = piece.partition("=")
    if not eq:
        return piece
    if is_credential_name(name):
        return f"{name}={MASK}"
    return f"{name}={_mask_pair(value)}" if "=" in value else piece


def _mask_params(text: str, separators: str) -> str:
    if "=" not in text:
        return text
    pieces = re.split(f"([{re.escape(separators)}])", text)
    return "".join(_mask_pair(piece) if i % 2 == 0 else piece for i, piece in enumerate(pieces))


def _mask_odd_port(rest: str) -> str:
    """``admin:hunter2/x`` (a userinfo whose ``@host`` was forgotten) -> ``admin:***/x``; real ports stay."""
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:end]
    colon = authority.find(":", authority.rfind("]") + 1)
    port = authority[colon + 1:]
    if colon < 0 or not port or (_PORT.fullmatch(port) and 1 <= int(port) <= 65535):
        return rest
    return f"{authority[:colon + 1]}{MASK}{rest[end:]}"


@sensitive_variables()
def redact_url(url: object) -> str:
    """Mask the credentials of one URL for display; never raises (see the module docstring)."""
    if not isinstance(url, str):
        return REDACTED
    if not url:
        return ""
    if _bad_char(url) is not None:
        return REDACTED
    try:
        urlsplit(url)
    except ValueError:
        return REDACTED
    head_end = _PREFIX.match(url).end()  # type: ignore[union-attr]  # every part optional: always matches
    head, rest = url[:head_end], url[head_end:]
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _secret = rest[:at].partition(":")
        head += f"{user}:{MASK}@" if colon else f"{MASK}@"
        rest = rest[at + 1:]
    elif head.endswith("//"):
        rest = _mask_odd_port(rest)
    rest, hash_, fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    return (head + _mask_params(rest, "/;&") + qmark + _mask_params(query, "&;")
            + hash_ + _mask_params(fragment, "&;"))


# A URL-ish token in free text: a scheme at a word start, then anything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,31}:[^\s'\"<>`]+")


def _redact_token(match: re.Match[str]) -> str:
    token = match.group(0)
    after_scheme = token[token.index(":") + 1:]
    if after_scheme.startswith("//") or "@" in after_scheme:
        return redact_url(token)
    return token


def redact_urls_in_text(text: str) -> str:
    """Every URL inside ``text`` through ``redact_url`` (for log lines and error pages)."""
    if ":" not in text:
        return text
    return _URL_IN_TEXT.sub(_redact_token, text)
