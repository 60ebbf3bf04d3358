"""English formats that replace Django's for display; input formats stay Django's.

Django's "Nov. 30, 2026, 12:54 p.m." becomes "30 Nov 2026, 12:54", as the app's
pages write dates, so the admin reads the same.
"""

DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
