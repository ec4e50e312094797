"""The append-only event record: orders, invoices, payments, returns and what customers say."""
