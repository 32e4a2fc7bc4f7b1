"""Settings for the test suite: production settings with test-only relaxations.

The database comes from DATABASE_URL like in production, so the same suite runs on
SQLite (default) and PostgreSQL (`make test` sets DATABASE_URL for the second run).
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from anagen.settings import *  # noqa: F403
from anagen.settings import DATABASES

# The test client and the live server speak plain HTTP.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
# Hashing with PBKDF2 at production strength makes each login in a test take ~0.3 s.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Uploads go to the file system like in production, in a directory of this process that is
# removed when it ends. Not Django's InMemoryStorage: it hands every opener the same file
# object, so the live server's threads serving one photo twice at once (its image and its
# overlay) moved each other's read position, and a response came short of its
# Content-Length: the browser waited for the rest until its timeout.
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="anagen-test-media-"))
atexit.register(shutil.rmtree, MEDIA_ROOT, ignore_errors=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not Django's shared in-memory database: the live server of the browser tests
    # would otherwise share one SQLite connection between two threads, which fails at
    # random ("no such savepoint", "bad parameter or other API misuse"). One file per
    # pytest process (xdist workers run side by side).
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"anagen-test-{os.getpid()}.sqlite3")
    }
else:
    # One test database per pytest process, so runs side by side never collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_anagen_{os.getpid()}"}
