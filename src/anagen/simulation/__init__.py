"""Follicle-cycle simulator and virtual trials (pure NumPy/SciPy; no Django imports).

Public entry points:

- ``cohort.simulate_visits`` – patients → target areas → follicles, measured at visits
- ``trial`` – ``TrialDesign``, ``simulate_trial``, ``analyse``, ``power``, ``power_curve``,
  ``search_sample_size``, ``closed_form_n``, ``closed_form_pairs``
- ``forecast.forecast`` / ``forecast.plausibility``
- ``demo.generate_demo_cohort`` – demo data with known truth for the web app
- ``cli.main`` – ``anagen simulate ...``

See docs/simulation.md.
"""

from .params import MODEL_VERSION

__all__ = ["MODEL_VERSION"]
