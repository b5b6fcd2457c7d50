"""The geo parts as the config asks for them: databases (configured or discovered),
anonymizer lists plus the feeds folder, and the stage."""

from __future__ import annotations

from collections.abc import Sequence

from ottwatch.config import Config
from ottwatch.geo.anonymizers import AnonymizerSet
from ottwatch.geo.lookup import DEFAULT_CACHE_SIZE, GeoLookup, PathLike
from ottwatch.geo.paths import config_folder, feeds_folder
from ottwatch.geo.stage import GeoSettings, GeoStage


def open_lookup(config: Config, *, search_dirs: Sequence[PathLike] | None = None,
                cache_size: int = DEFAULT_CACHE_SIZE) -> GeoLookup:
    """Configured databases, the rest discovered in the config folder and `search_dirs`
    (default: the system GeoIP folders)."""
    return GeoLookup.from_config(config.geo, config_folder(config), search_dirs=search_dirs,
                                 cache_size=cache_size)


def open_anonymizers(config: Config, *, check_every_s: float = 5.0) -> AnonymizerSet:
    """`[geo] anonymizer_lists`, and the feeds folder when `[geo] feed_urls` is set."""
    paths: list[PathLike] = list(config.geo.anonymizer_lists)
    if config.geo.feed_urls:
        paths.append(feeds_folder(config))
    return AnonymizerSet(paths, check_every_s=check_every_s)


def make_geo_stage(config: Config, settings: GeoSettings | None = None, *,
                   search_dirs: Sequence[PathLike] | None = None) -> GeoStage:
    settings = settings if settings is not None else GeoSettings.from_geo_config(config.geo)
    return GeoStage(open_lookup(config, search_dirs=search_dirs, cache_size=settings.cache_size),
                    open_anonymizers(config), settings)
