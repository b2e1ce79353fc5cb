"""Entry point for ``celery -A workers.main worker -Q <queue>``."""

from celery.signals import setup_logging

from services import logs
from services.broker.celery_app import create_celery
from services.settings import get_settings


@setup_logging.connect
def _logging(loglevel: str | int | None = None, **_: object) -> None:
    logs.configure(loglevel or "INFO")


app = create_celery(get_settings())
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
import workers.recovery  # noqa: E402  (its tasks and the chain worker's start hook)
import workers.registry  # noqa: E402,F401
