"""The secret scanner: rules, the fast pass, the scanner, compressed files, redaction."""
