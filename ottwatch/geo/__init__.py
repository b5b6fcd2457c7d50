"""GeoIP: where an IP is, whether it is an anonymizer, and impossible travel."""
