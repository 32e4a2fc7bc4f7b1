"""Background work of the imaging app (Django's tasks framework).

With the default ImmediateBackend the task runs when it is enqueued (after the upload's
transaction commits); a deployment sets TASKS to the django-tasks database backend and runs
`manage.py db_worker`, so analyses and phototrichograms run off the request path.
"""

from __future__ import annotations

from django.tasks import task


@task(queue_name="default")
def analyse_photo(analysis_id: int) -> str:
    from anagen.imaging.services import run_analysis

    return run_analysis(analysis_id).status


@task(queue_name="default")
def compare_photos(comparison_id: int) -> str:
    from anagen.imaging.services import run_comparison

    return run_comparison(comparison_id).status
