"""Entry point for ``celery -A workers.main worker -Q <queue>``."""

from services.settings import get_settings
from workers.app import create_celery

app = create_celery(get_settings())
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
