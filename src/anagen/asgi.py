import os

# One BLAS thread per process: web and worker processes run side by side, and threaded BLAS
# made an MMRM fit 10x slower on a busy 2-core machine (benchmarks/results_analytics.md).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from django.core.asgi import get_asgi_application  # noqa: E402  (after the env above)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anagen.settings")
application = get_asgi_application()

from anagen.core.warmup import load_urlconf  # noqa: E402  (needs the app set up)

load_urlconf()
