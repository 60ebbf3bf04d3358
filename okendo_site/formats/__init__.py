"""Date formats for the whole site (``FORMAT_MODULE_PATH``), the admin included."""
