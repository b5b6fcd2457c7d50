"""Where an IP is: MaxMind-format databases (City, optional ASN, optional
Anonymous-IP), found by configuration or discovery, with an LRU cache per IP.
Without a city database everything still runs and `status()` says that the geo
checks are off.

Records are read with `maxminddb`, MaxMind's reader that `geoip2` itself wraps:
geoip2's model objects cost about 20 µs per lookup, the raw record about 4 µs, and
the fields used here (`country.iso_code`, `location.*`, `city.names.en`, ...) are
the databases' own documented keys.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb

from ottwatch.config import GeoConfig
from ottwatch.geo.addresses import IPAddress, parse_ip, special_purpose
from ottwatch.geo.model import GeoHit

SEARCH_DIRS = (Path("/usr/share/GeoIP"), Path("/var/lib/GeoIP"), Path("/usr/local/share/GeoIP"))
# Preferred first; a glob picks its last match by name (the newest dated dbip file).
CITY_FILES = ("GeoIP2-City.mmdb", "GeoLite2-City.mmdb", "dbip-city-lite*.mmdb", "dbip-city*.mmdb")
ASN_FILES = ("GeoIP2-ISP.mmdb", "GeoLite2-ASN.mmdb", "dbip-asn-lite*.mmdb", "dbip-asn*.mmdb")
ANONYMOUS_FILES = ("GeoIP2-Anonymous-IP.mmdb",)
DEFAULT_CACHE_SIZE = 100_000
NO_CITY_DB = ("geo checks off: no city database "
              "(set [geo] city_db or put GeoLite2-City.mmdb in /usr/share/GeoIP)")

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class GeoDatabases:
    city: Path | None = None
    asn: Path | None = None
    anonymous: Path | None = None


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    role: str  # city, asn, anonymous-ip
    path: Path
    database_type: str
    built: str  # YYYY-MM-DD

    def describe(self) -> str:
        return f"{self.role}: {self.database_type} ({self.path}, built {self.built})"


def _first_match(folders: Iterable[Path], names: Sequence[str]) -> Path | None:
    for folder in folders:
        if not folder.is_dir():
            continue
        for name in names:
            found = sorted(p for p in folder.glob(name) if p.is_file())
            if found:
                return found[-1]
    return None


def discover_databases(config_folder: PathLike | None = None,
                       search_dirs: Sequence[PathLike] | None = None) -> GeoDatabases:
    """Find City/ASN/Anonymous-IP databases by their usual file names, in the config
    folder first, then `search_dirs` (default SEARCH_DIRS, the system GeoIP folders)."""
    folders = [Path(config_folder)] if config_folder else []
    folders += [Path(folder) for folder in (SEARCH_DIRS if search_dirs is None else search_dirs)]
    return GeoDatabases(city=_first_match(folders, CITY_FILES),
                        asn=_first_match(folders, ASN_FILES),
                        anonymous=_first_match(folders, ANONYMOUS_FILES))


def configured_databases(geo: GeoConfig, config_folder: PathLike | None = None,
                         search_dirs: Sequence[PathLike] | None = None) -> GeoDatabases:
    """`[geo]` paths where set, discovery for the rest."""
    found = discover_databases(config_folder, search_dirs)
    return GeoDatabases(city=Path(geo.city_db) if geo.city_db else found.city,
                        asn=Path(geo.asn_db) if geo.asn_db else found.asn,
                        anonymous=Path(geo.anonymous_db) if geo.anonymous_db else found.anonymous)


def _anonymizer_kind(record: dict[str, Any]) -> str | None:
    """The most telling kind an Anonymous-IP record states (its flags are present
    only when true)."""
    if record.get("is_tor_exit_node"):
        return "tor"
    if record.get("is_anonymous_vpn"):
        return "vpn"
    if record.get("is_public_proxy") or record.get("is_residential_proxy"):
        return "proxy"
    if record.get("is_hosting_provider"):
        return "hosting"
    return "proxy" if record.get("is_anonymous") else None


def _km(radius: int | None) -> float | None:
    return None if radius is None else float(radius)


# Which kind of record a database holds, by a part of its database_type.
_CITY_KINDS = (("Enterprise", "city"), ("City", "city"), ("Country", "country"))
_ASN_KINDS = (("GeoLite2-ASN", "asn"), ("GeoIP2-ISP", "asn"))
_ANONYMOUS_KINDS = (("GeoIP2-Anonymous-IP", "anonymous"),)


@dataclass(frozen=True, slots=True)
class _Source:
    reader: maxminddb.Reader
    kind: str  # city, country, asn, anonymous
    info: DatabaseInfo

    def find(self, address: IPAddress) -> dict[str, Any] | None:
        try:
            record = self.reader.get(address)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None


class GeoLookup:
    """`lookup(ip)` -> `GeoHit | None` (None for special-purpose addresses and
    addresses no database knows). Cached per IP string."""

    def __init__(self, city_db: PathLike | None = None, asn_db: PathLike | None = None,
                 anonymous_db: PathLike | None = None, *,
                 cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.problems: dict[str, str] = {}
        self._city = self._open("city", city_db, _CITY_KINDS)
        self._asn = self._open("asn", asn_db, _ASN_KINDS)
        self._anonymous = self._open("anonymous-ip", anonymous_db, _ANONYMOUS_KINDS)
        self._city_located = self._city is not None and self._city.kind == "city"
        self.lookup: Callable[[str], GeoHit | None] = lru_cache(maxsize=cache_size)(self._lookup)

    @classmethod
    def from_config(cls, geo: GeoConfig, config_folder: PathLike | None = None, *,
                    search_dirs: Sequence[PathLike] | None = None,
                    cache_size: int = DEFAULT_CACHE_SIZE) -> GeoLookup:
        found = configured_databases(geo, config_folder, search_dirs)
        return cls(found.city, found.asn, found.anonymous, cache_size=cache_size)

    @property
    def enabled(self) -> bool:
        """Is there a city (or country) database, so location checks can run?"""
        return self._city is not None

    @property
    def databases(self) -> dict[str, DatabaseInfo]:
        return {source.info.role: source.info
                for source in (self._city, self._asn, self._anonymous) if source is not None}

    def status(self) -> str:
        if self._city is None:
            head = (f"geo checks off: city database {self.problems['city']}"
                    if "city" in self.problems else NO_CITY_DB)
        else:
            head = "geo checks on"
        parts = [info.describe() for info in self.databases.values()]
        parts += [f"{role} database {problem}" for role, problem in self.problems.items()
                  if role != "city"]
        return head + ("; " + "; ".join(parts) if parts else "")

    def lookup_address(self, address: IPAddress) -> GeoHit | None:
        """Uncached lookup of a parsed public address."""
        fields: dict[str, Any] = {}
        if self._city is not None:
            fields.update(self._city_fields(self._city, address))
        if self._asn is not None:
            record = self._asn.find(address)
            if record is not None and record.get("autonomous_system_number") is not None:
                fields["asn"] = record["autonomous_system_number"]
                fields["asn_org"] = record.get("autonomous_system_organization")
        if self._anonymous is not None:
            record = self._anonymous.find(address)
            kind = _anonymizer_kind(record) if record is not None else None
            if kind is not None:
                fields["anonymizer"] = kind
                fields["anonymizer_source"] = self._anonymous.info.path.name
        if not fields:
            return None
        fields.setdefault("country", None)
        return GeoHit(**fields)

    def cache_clear(self) -> None:
        self.lookup.cache_clear()  # type: ignore[attr-defined]

    def close(self) -> None:
        for source in (self._city, self._asn, self._anonymous):
            if source is not None:
                source.reader.close()

    def __enter__(self) -> GeoLookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lookup(self, ip: str) -> GeoHit | None:
        address = parse_ip(ip)
        if address is None or special_purpose(address) is not None:
            return None
        return self.lookup_address(address)

    def _city_fields(self, city: _Source, address: IPAddress) -> dict[str, Any]:
        record = city.find(address)
        if record is None:
            return {}
        fields: dict[str, Any] = {"country": record.get("country", {}).get("iso_code")}
        if not self._city_located:
            return fields
        subdivisions = record.get("subdivisions")
        fields.update(subdivision=subdivisions[-1].get("iso_code") if subdivisions else None,
                      city=record.get("city", {}).get("names", {}).get("en"))
        location = record.get("location", {})
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if latitude is not None and longitude is not None:
            fields.update(lat=latitude, lon=longitude,
                          accuracy_km=_km(location.get("accuracy_radius")))
        return fields

    def _open(self, role: str, path: PathLike | None,
              kinds: Sequence[tuple[str, str]]) -> _Source | None:
        if not path:
            return None
        where = Path(path)
        try:
            reader = maxminddb.open_database(str(where))
        except FileNotFoundError:
            self.problems[role] = f"{where}: no such file"
            return None
        except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
            self.problems[role] = f"{where}: not a readable MaxMind database ({exc})"
            return None
        metadata = reader.metadata()
        kind = next((name for part, name in kinds if part in metadata.database_type), None)
        if kind is None:
            reader.close()
            expected = " or ".join(part for part, _ in kinds)
            self.problems[role] = (f"{where}: is a {metadata.database_type} database, "
                                   f"expected {expected}")
            return None
        built = datetime.fromtimestamp(metadata.build_epoch, UTC).date().isoformat()
        info = DatabaseInfo(role, where, metadata.database_type, built)
        return _Source(reader, kind, info)
