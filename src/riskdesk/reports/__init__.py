"""Reports: lists exported as files (Excel, CSV), and the customer credit report (PDF and
print page)."""
