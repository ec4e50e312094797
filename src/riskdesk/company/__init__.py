"""Company settings: values an administrator sets for everyone (the display time zone)."""
