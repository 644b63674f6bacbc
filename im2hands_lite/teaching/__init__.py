"""Teaching: the checks of the notebooks' exercises (`checks`). The top layer below the CLI:
it may use every other part of the package, and nothing in the package uses it."""
from .checks import ExerciseCheckError

__all__ = ["ExerciseCheckError"]
