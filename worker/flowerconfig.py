"""Flower's configuration file: ``celery --app=worker.app flower --conf=<this file>``
(the flower image sets ``FLOWER_CONF`` to it).

The worker's ``task-progress`` events carry a mission's stage (``queued``, ``transcribing``
with ``done_s``/``total_s`` seconds of audio, or ``recognizing``, ``prompting`` with
``done``/``total``, ``saving``). Flower keeps every
event field on its task but shows, and serves through its API, only Celery's standard
task fields; adding the progress fields to that list makes ``/api/task/info``,
``/api/tasks`` and the task page show the stage. Flower executes this file in its own
process (module-level names matching its options are its settings; there are none here).
"""

from __future__ import annotations

from celery.events.state import Task

PROGRESS_FIELDS = ("stage", "done", "total", "done_s", "total_s")

if "stage" not in Task._fields:
    Task._fields = (*Task._fields, *PROGRESS_FIELDS)
    for _name in PROGRESS_FIELDS:
        setattr(Task, _name, None)  # tasks that never reported progress
