"""Similar items, merge groups (并案) and hotspots (issue #17): an index of every stored item under
``SQMY_HOME/similar`` (MinHash LSH for near-duplicates, an HNSW graph for same-matter items)."""
