"""Study-Savvy Celery worker: the six missions of the Go backend's contract."""
