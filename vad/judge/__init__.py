"""Vision-model judges of rendered drawings (``vad judge``).

A judge is a model that takes images, asked through the model seam like any other
(``vad.pipeline.ask``: the response store first), about drawings that runs already
rendered. Modules, one job each:

- ``prompts``: the three questions (recognition, fidelity, pairwise), from
  ``prompts/judge.yaml``, with their images;
- ``parsing``: replies -> a letter, a score, a choice, or None (unparsable, never guessed);
- ``capability``: whether a judge takes images, decided before any request;
- ``pairs``: the samples a judge looks at, and the pairs of drawings to compare;
- ``budget``: the most a request can cost, and --max-cost;
- ``run``: the judging itself (store, budget, lock, one line per judgement).

What the leaderboard reads lives below both, in vad.scoring: ``judgement_file``
(``<run>/judgements.jsonl``, read with a torn tail repaired, and appended) and
``judgements`` (accuracy, mean fidelity, Bradley-Terry ratings, with intervals).
"""
