"""The five Lành Mạnh services. They never import one another (checked by import-linter)."""
