"""Home pages per role: the analyst's queue, the sales desk, customer service, audit, admin."""
