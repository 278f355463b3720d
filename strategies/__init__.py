"""The strategy engine: typed strategy documents, validation, the pure decision function and
vectorised simulation. Imports neither Flask nor `valuation` (see DESIGN.md)."""
