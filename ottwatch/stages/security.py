"""Input security: injection payloads (SQL, script, path, command, template, LDAP/NoSQL,
CRLF) in any string an event carries.

Normal traffic must cost almost nothing. All strings of an event are joined, lower-cased
and checked for the characters and keywords that every pattern needs (`is_suspicious`);
only a suspicious event is scanned string by string, and each string only with the
patterns whose trigger tokens it contains. Only a string with `%` (or `&`, for HTML
character references) is decoded. Patterns match lower-cased text, so they are written
in lower case, and whitespace runs are possessive so no input backtracks quadratically.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote

from pydantic import ConfigDict, Field

from ottwatch.detector_mode import DetectorMode
from ottwatch.events import Event
from ottwatch.pipeline import Batch

CODE = "input.attack_pattern"

# Whitespace as SQL sees it after a URL form decode: blanks, `+` and inline comments.
_SEP = r"(?:\s|\+|/\*[^*]{0,64}\*/)"
_SQL_QUOTED = r"(?:'[^']{0,32}'?|\"[^\"]{0,32}\"?)"
_SQL_COMPARE = r"(?:=|<>|!=|<=>|>|<)"
# Commands that are injection on their own, and everyday words that are commands only
# when followed by an option, a path, a number or another shell operator.
_SHELL_COMMANDS = (
    r"whoami|wget|curl|nc|ncat|netcat|bash|zsh|ksh|sh|powershell|pwsh|cmd(?:\.exe)?|chmod"
    r"|chown|mkfifo|base64|certutil|uname|ifconfig|ipconfig|nslookup|socat|tftp|telnet"
    r"|python[23]?|perl|ruby|php|printenv"
)
_SHELL_WORDS = r"rm|cat|id|ls|dir|ping|dig|sleep|echo|kill|env|ftp"
_DOM_EVENTS = (
    r"error|load|unload|beforeunload|click|dblclick|contextmenu|mouse[a-z]{2,10}|pointer[a-z]{2,10}"
    r"|focus(?:in|out)?|blur|change|submit|reset|select|key(?:up|down|press)|input|invalid"
    r"|toggle|begin|end|animation[a-z]{3,10}|transition[a-z]{3,10}|wheel|scroll|resize"
    r"|hashchange|message|pageshow|popstate|show|start|finish|copy|paste|cut|drag[a-z]{0,6}"
    r"|drop|play|playing|pause|ended|canplay|loadstart|readystatechange|search|auxclick"
)
# After the literal `on`: it starts the string or follows a blank, quote, `/`, `<`, `;` or
# a backtick (so `location=` in a URL is not an `onload=`).
_ON_AFTER_DELIMITER = r"on(?<![^\s\"'/<;`]on)"

# Tokens a pattern can need: the pre-filter's characters and keywords (lower case).
TRIGGER_CHARS = frozenset("<>'\"`;|$&{}%\\\r\n=(\x00")
TRIGGER_WORDS = ("union", "script", "..", "/etc/", "/proc/", "/dev/", "/bin/", "@@", "_schema",
                 "_master", "cmdshell", "text/html")
_OTHER_BYTES = bytes(b for b in range(256) if chr(b) not in TRIGGER_CHARS)
_NO_TOKENS: frozenset[str] = frozenset()
_TRIGGER_WORDS_RE = re.compile("|".join(re.escape(word) for word in TRIGGER_WORDS))
_HTML_REFERENCE = re.compile(r"&(?:#|[a-z]{2,10};)")
_SEPARATOR = "\x1f"
_EVENT_FIELDS = ("event_id", "user_id", "event_type", "device_id", "content_id", "session_id",
                 "payment_fingerprint", "error_code", "request_id", "subscription_plan")


@dataclass(slots=True, frozen=True)
class AttackPattern:
    name: str
    regex: str
    # Each group is a set of tokens of which at least one must be present.
    needs: tuple[tuple[str, ...], ...]
    # Cheaper than the regex: a substring of which one must be present (any, when empty).
    hints: tuple[str, ...] = ()


PATTERNS: tuple[AttackPattern, ...] = (
    AttackPattern("sql_union_select",
                  rf"union{_SEP}++(?:(?:all|distinct){_SEP}++)?select\b", (("union",),)),
    AttackPattern(
        "sql_tautology",
        rf"(?:or|and|xor){_SEP}++\(?\s*+{_SQL_QUOTED}\s*+{_SQL_COMPARE}\s*+['\"\d]"
        rf"|(?:or|and|xor){_SEP}++(?P<number>\d{{1,12}})\s*+=\s*+(?P=number)\b"
        rf"|['\"]\)*\s*+(?:or|and|xor){_SEP}++"
        rf"(?:true\b|\d{{1,12}}\s*+{_SQL_COMPARE}\s*+\d|\d{{1,12}}\s*+(?:--|#))",
        (("=", "<", ">", "'", '"'),), ("or", "and")),
    AttackPattern("sql_comment",
                  r"['\"]\)*;?\s*+(?:--|#)[\s-]*+$|['\"]\)*\s*+/\*|;\s*+--[\s-]*+$",
                  (("'", '"', ";"),)),
    AttackPattern(
        "sql_stacked_query",
        r";\s*+(?:drop\s++(?:table|database|user)|delete\s++from|insert\s++into"
        r"|update\s++\w+\s++set|truncate\s++table|alter\s++(?:table|user)"
        r"|create\s++(?:table|user|login)|exec(?:ute)?\s|declare\s++@|shutdown\b"
        r"|select\s[^;]{0,80}?\bfrom\b)",
        ((";",),)),
    AttackPattern(
        "sql_time_delay",
        r"(?:pg_)?sleep\(\s*+\d{1,6}(?:\.\d+)?\s*+\)|benchmark\(\s*+\d+\s*+,"
        r"|waitfor\s++(?:delay|time)\s*+'|dbms_(?:lock\.sleep|pipe\.receive_message)\s*+\(",
        (("(", "'"),), ("sleep", "benchmark", "waitfor", "dbms_")),
    AttackPattern(
        "sql_schema_probe",
        r"information_schema\b|sqlite_master\b|xp_cmdshell\b"
        r"|@@(?:version|datadir|hostname|servername)\b|load_file\s*+\("
        r"|into\s++(?:out|dump)file\s*+'",
        (("_schema", "_master", "cmdshell", "@@", "(", "'"),),
        ("_schema", "_master", "cmdshell", "@@", "load_file", "outfile", "dumpfile")),
    AttackPattern("xss_script_tag", r"<\s*+/?\s*+script\b", (("<",), ("script",))),
    AttackPattern("xss_js_uri", r"(?:java|vb|live)script\s*+:|data\s*+:\s*+text/html\b",
                  (("script", "text/html"),)),
    AttackPattern(
        "xss_svg_onload",
        r"<\s*+(?:svg|img|image|body|video|audio|math|details|marquee|input|style)\b"
        r"[^>]{0,200}?\bon[a-z]{3,30}\s*+=",
        (("<",), ("=",))),
    AttackPattern("xss_event_handler", rf"{_ON_AFTER_DELIMITER}(?:{_DOM_EVENTS})\s*+=",
                  (("=",),), ("on",)),
    AttackPattern(
        "xss_embed_tag",
        r"<\s*+(?:iframe|frame|frameset|object|embed|applet|base|form|meta\s++http-equiv)\b",
        (("<",),)),
    AttackPattern(
        "xss_dom_sink",
        r"\b(?:alert|prompt|eval|settimeout|setinterval)\(|fromcharcode\s*+\("
        r"|document\s*+\.\s*+write(?:ln)?\s*+\(|\bexpression\(",
        (("(",),), ("alert", "prompt", "eval", "settimeout", "setinterval", "fromcharcode",
                    "document", "expression")),
    AttackPattern("xxe_or_ssi",
                  r"<!\s*+(?:entity|doctype)\b|<!--\s*+#\s*+(?:exec|include|echo|config)\b",
                  (("<",),)),
    AttackPattern("path_traversal",
                  r"\.\.;?[/\\]|[/\\]\.\.(?:$|[/\\?#])|%c0%ae|%c0%af|%c1%9c|%e0%80%ae",
                  (("..", "%"),)),
    AttackPattern(
        "sensitive_file",
        r"/etc/(?:passwd|shadow|group|hosts|issue|sudoers)\b|/proc/self/"
        r"|[a-z]:\\+(?:windows|winnt|boot\.ini)|\\windows\\+(?:system32|win\.ini)",
        (("/etc/", "/proc/", "\\"),)),
    AttackPattern("null_byte", r"\x00", (("\x00",),)),
    AttackPattern(
        "cmd_chaining",
        rf"(?:;|\|\|?|&&|\n|\r)[ \t+]*+(?:(?:{_SHELL_COMMANDS})\b"
        rf"|(?:{_SHELL_WORDS})(?:[ \t+]++[-/\d~.$]|[ \t+]*+(?:$|[;|&<>`])))",
        ((";", "|", "&", "\n", "\r"),)),
    AttackPattern("cmd_substitution", r"\$\(\s*+[^)\s][^)]{0,200}\)", (("$",), ("(",))),
    AttackPattern("cmd_backticks", r"`[^`\n]{1,200}`", (("`",),)),
    AttackPattern("reverse_shell", r"/dev/(?:tcp|udp)/|/bin/(?:ba|z|k|c|da)?sh\b",
                  (("/dev/", "/bin/"),)),
    AttackPattern("jndi_lookup", r"\$\{\s*+(?:jndi|env|sys|java|lower|upper|date|::-)",
                  (("$",), ("{",))),
    AttackPattern("template_expression", r"\{\{[^}]{0,200}\}\}|\{%[^%]{0,200}%\}",
                  (("{",),)),
    AttackPattern("template_interpolation", r"\$\{[^}]{1,200}\}|#\{[^}]{1,200}\}",
                  (("{",),)),
    AttackPattern("template_erb", r"<%=?[^%]{0,200}%>", (("<",), ("%",))),
    AttackPattern(
        "nosql_operator",
        r"\$(?:ne|eq|gt|gte|lt|lte|in|nin|regex|where|exists|expr|or|and|not|nor|elemmatch"
        r"|function|accumulator)\b",
        (("$",),)),
    AttackPattern(
        "ldap_injection",
        r"\*\)\s*+\(|\)\s*+\(\s*+[|&!]\s*+\(?\s*+\w+\s*+[=~<>]|\(\s*+[|&]\s*+\(\s*+\w+\s*+[=~<>]",
        (("(",),)),
    AttackPattern(
        "crlf_injection",
        r"(?:\r\n?|\n)[ \t]*+(?:set-cookie|location|content-(?:type|length)|refresh|host"
        r"|cookie|x-[a-z-]{1,40}|access-control-allow-[a-z-]{1,20})\s*+:"
        r"|(?:\r\n?|\n)[ \t]*+http/\d",
        (("\r", "\n"),)),
)
PATTERN_NAMES = tuple(p.name for p in PATTERNS)


class SecuritySettings(DetectorMode):
    model_config = ConfigDict(extra="forbid")

    weight: float = Field(60.0, ge=0, le=100)
    extra_pattern_weight: float = Field(10.0, ge=0, le=100)
    max_weight: float = Field(90.0, ge=0, le=100)
    disabled_patterns: list[str] = []
    max_decode_rounds: int = Field(3, ge=1, le=10)
    max_chars_per_string: int = Field(8192, ge=64)
    max_scan_chars_per_event: int = Field(65_536, ge=64)
    max_strings_per_event: int = Field(256, ge=1)
    max_metadata_depth: int = Field(8, ge=1)
    scan_metadata_keys: bool = True
    detail_chars: int = Field(40, ge=8, le=200)


@dataclass(slots=True, frozen=True)
class Hit:
    pattern: str
    where: str
    excerpt: str
    decoded: bool


def is_suspicious(text: str) -> bool:
    """The cheap pre-filter: could any pattern match somewhere in `text`?"""
    lowered = text.lower()
    return bool(trigger_chars(lowered)) or _TRIGGER_WORDS_RE.search(lowered) is not None


def trigger_chars(lowered: str) -> bytes:
    """The trigger characters in the text, as bytes (a fast C loop, no per-char hashing)."""
    return lowered.encode("utf-8", "surrogatepass").translate(None, _OTHER_BYTES)


def trigger_tokens(lowered: str, *, words: bool = True) -> frozenset[str]:
    """The trigger characters and keywords present; `words=False` when none can be."""
    chars = trigger_chars(lowered)
    found = frozenset(chars.decode()) if chars else _NO_TOKENS
    if words and (matched := _TRIGGER_WORDS_RE.findall(lowered)):
        found = found.union(matched)
    return found


def _contains_any(text: str, parts: tuple[str, ...]) -> bool:
    for part in parts:
        if part in text:
            return True
    return False


def decoded_forms(text: str, rounds: int) -> Iterator[str]:
    """URL-decoded (repeatedly) and HTML-unescaped variants that differ from `text`."""
    current = text
    for _ in range(rounds):
        if "%" not in current:
            break
        decoded = unquote(current, errors="replace")
        if decoded == current:
            break
        current = decoded
        yield current
    if "&" in current and _HTML_REFERENCE.search(current):
        yield html.unescape(current)


class PatternSet:
    """The enabled patterns, and which of them a set of trigger tokens can match."""

    MAX_CACHED = 1024

    def __init__(self, disabled: list[str] | tuple[str, ...] = ()) -> None:
        unknown = set(disabled) - set(PATTERN_NAMES)
        if unknown:
            raise ValueError(f"unknown attack patterns: {', '.join(sorted(unknown))}")
        self.patterns = tuple((p, re.compile(p.regex)) for p in PATTERNS
                              if p.name not in disabled)
        self._by_tokens: dict[frozenset[str], tuple[tuple[AttackPattern, re.Pattern[str]], ...]]
        self._by_tokens = {}

    def candidates(self, tokens: frozenset[str]
                   ) -> tuple[tuple[AttackPattern, re.Pattern[str]], ...]:
        found = self._by_tokens.get(tokens)
        if found is None:
            if len(self._by_tokens) >= self.MAX_CACHED:
                self._by_tokens.clear()
            found = tuple((p, regex) for p, regex in self.patterns
                          if all(not tokens.isdisjoint(group) for group in p.needs))
            self._by_tokens[tokens] = found
        return found


class InputSecurityStage:
    name: ClassVar[str] = "input_security"

    def __init__(self, settings: SecuritySettings | None = None) -> None:
        self.settings = settings or SecuritySettings()
        self.patterns = PatternSet(self.settings.disabled_patterns)

    def process(self, batch: Batch) -> None:
        for index, event in enumerate(batch.events):
            hits = self.scan(event)
            if hits:
                weight, detail = self._reason(hits)
                batch.add(index, CODE, weight, detail)

    def scan(self, event: Event) -> list[Hit]:
        """Distinct patterns found in the event's strings, in field order."""
        lowered = self._joined_lowered(event)
        has_words = _TRIGGER_WORDS_RE.search(lowered) is not None
        if not has_words and not trigger_chars(lowered):
            return []
        hits: dict[str, Hit] = {}
        budget = self.settings.max_scan_chars_per_event
        for where, text in self._strings(event):
            text = text[: self.settings.max_chars_per_string]
            lowered = text.lower()
            tokens = trigger_tokens(lowered, words=has_words)
            if not tokens:
                continue
            if len(text) > budget:
                break
            budget -= len(text)
            original = text if len(text) == len(lowered) else lowered
            self._scan_text(where, lowered, original, tokens, hits)
        return list(hits.values())

    def _scan_text(self, where: str, lowered: str, original: str, tokens: frozenset[str],
                   hits: dict[str, Hit]) -> None:
        self._match(where, lowered, original, tokens, hits, decoded=False)
        if "%" in tokens or "&" in tokens:
            for form in decoded_forms(lowered, self.settings.max_decode_rounds):
                form = form.lower()
                self._match(where, form, form, trigger_tokens(form), hits, decoded=True)

    def _match(self, where: str, lowered: str, original: str, tokens: frozenset[str],
               hits: dict[str, Hit], *, decoded: bool) -> None:
        for pattern, regex in self.patterns.candidates(tokens):
            if pattern.name in hits:
                continue
            if pattern.hints and not _contains_any(lowered, pattern.hints):
                continue
            match = regex.search(lowered)
            if match is not None:
                excerpt = original[match.start(): match.start() + self.settings.detail_chars]
                hits[pattern.name] = Hit(pattern.name, where, excerpt, decoded)

    def _joined_lowered(self, event: Event) -> str:
        """All of the event's strings in one lower-cased text, for the pre-filter."""
        e = event
        texts = [e.event_id, e.user_id, e.event_type, e.device_id, e.content_id, e.session_id,
                 e.payment_fingerprint, e.error_code, e.request_id, e.subscription_plan]
        if e.extra_metadata:
            metadata: list[tuple[str, str]] = []
            self._collect(e.extra_metadata, "", 0, metadata, paths=False)
            texts.extend(text for _, text in metadata)
        return _SEPARATOR.join(filter(None, texts)).lower()

    def _strings(self, event: Event) -> list[tuple[str, str]]:
        """(where, text) of every non-empty string the event carries."""
        out = [(name, value) for name in _EVENT_FIELDS if (value := getattr(event, name))]
        if event.extra_metadata:
            metadata: list[tuple[str, str]] = []
            self._collect(event.extra_metadata, "extra_metadata", 0, metadata, paths=True)
            out.extend(metadata)
        return out

    def _collect(self, value: Any, where: str, depth: int, out: list[tuple[str, str]], *,
                 paths: bool) -> None:
        """Strings (and text keys) of a metadata tree, at most `max_strings_per_event` of
        them and no deeper than `max_metadata_depth`."""
        settings = self.settings
        if depth >= settings.max_metadata_depth:
            return
        items: Any = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if len(out) >= settings.max_strings_per_event:
                return
            is_text_key = isinstance(key, str)
            path = where
            if paths:
                path = f"{where}.{key}" if is_text_key else f"{where}[{key}]"
            if is_text_key and key and settings.scan_metadata_keys:
                out.append((f"{path} (key)", key))
            if isinstance(item, str):
                if item:
                    out.append((path, item))
            elif isinstance(item, dict | list):
                self._collect(item, path, depth + 1, out, paths=paths)

    def _reason(self, hits: list[Hit]) -> tuple[float, str]:
        settings = self.settings
        first = hits[0]
        weight = min(settings.max_weight,
                     settings.weight + settings.extra_pattern_weight * (len(hits) - 1))
        decoded = " (decoded)" if first.decoded else ""
        detail = f"{first.pattern} in {first.where}{decoded}: {first.excerpt!r}"
        if len(hits) > 1:
            others = ", ".join(h.pattern for h in hits[1:4])
            more = f" and {len(hits) - 4} more" if len(hits) > 4 else ""
            detail += f"; also {others}{more}"
        return weight, detail
