"""Probable duplicates: bibliographic evidence, blocking keys, pairwise scoring, decisions.

Pure Python (the standard library and rapidfuzz): no SQL, no Dagster. The store and the
orchestration layer call it; it calls nothing of theirs. `normalise` turns a reference's
bibliographic enhancement into an `Evidence` record, `blocking` gives the keys a
database indexes to find candidates, `scoring` compares two evidence records, and
`decisions` decides a new reference against its candidates (spec section 3, "Probable
duplicates").
"""
