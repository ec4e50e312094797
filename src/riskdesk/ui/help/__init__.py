"""Help and training: a help page per screen, a glossary, getting-started guides per role and
a practice mode on the demo data. The words live here (content.py), the pages in
ui/help_pages.py; who may do what is read from the routes, never written down."""
