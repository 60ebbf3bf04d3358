"""Settings for the load benchmark's gunicorn: the site's, plus one bench-only URL.

run.py serves the site with these so a second baseline — a minimal view behind
sign-in — is served exactly as the pages are, while the production URLconf
never contains it.
"""

from okendo_site.settings import *  # noqa: F403  # the site's settings, unchanged

ROOT_URLCONF = "bench_urls"
