"""Reports: lists exported as files (Excel, CSV), one shape for every list."""
