"""`vad arena`: blind pairwise votes of people between two models' drawings.

- ``pairs``: which pairs of drawings exist (one concept, language and level, two
  models), and a random one a voter has not been shown;
- ``votes``: the SQLite store of the pairs shown and the votes cast, its JSONL export,
  and the Bradley-Terry ratings the votes make;
- ``app``: the Starlette app (``make_app``) that shows pairs, takes votes and serves a
  live ratings table, from the Jinja templates in ``templates/``.
"""
