"""course_utils: the tested helpers behind the Gradient Flow course.

Each notebook starts with::

    import course_utils
    course_utils.setup(seed=0)

and imports what it needs from the modules: ``activations``, ``numerical``, ``chains``,
``jacobians``, ``models``, ``data``, ``gradflow``, ``gradflow_plots``, ``recurrent``,
``patients``, ``plotting``, ``widgets``, ``repro`` and ``exercises``. Importing this
package does not import torch; the modules do.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "setup"]


def setup(seed: int = 0) -> None:
    """Prepare a notebook: seeded and deterministic, one torch thread, no denormals, course style.

    >>> setup(seed=0)
    """
    from .plotting import use_course_style
    from .repro import configure_torch, seed_everything

    seed_everything(seed)
    configure_torch(threads=1, flush_denormal=True)
    use_course_style()
