"""Solutions to the exercises, one module per notebook.

Kept apart from :mod:`course_utils.exercises` so that a release for a graded class can
leave this package out; ``Exercise.solution()`` then says the solution is withheld.
"""
