"""The Visual Aptitude Dataset: shapes, objects and scenes of increasing difficulty."""

from vad.concepts.loader import LEVELS, Concept, load_concepts, read_concept_file
from vad.concepts.shapes import generate_shapes

__all__ = ["LEVELS", "Concept", "generate_shapes", "load_concepts", "read_concept_file"]
