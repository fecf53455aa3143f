"""The grader's hidden cases, one module per notebook, one function per exercise.

Each function is named like its exercise and returns the cases to call the learner's
function with: other inputs and other seeds than the notebook's ``check()`` uses. The
grader sends a module's source into the learner's kernel only after the learner's cells
have run, so these modules may import ``torch``, ``math`` and ``course_utils`` (never
``course_utils.grading`` or ``course_utils.solutions``, which a learner release lacks).
"""
