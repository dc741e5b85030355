"""The data shapes a case arrives in and a decision leaves in (PRODUCT.md §4–§5)."""
