"""gunicorn settings, taken from valuation.config (the one place that reads the environment)."""
from valuation.config import Config

_settings = Config.from_env()

bind = _settings.WEB_BIND
workers = _settings.WEB_WORKERS
timeout = _settings.WEB_TIMEOUT
graceful_timeout = 30
# Each worker imports wsgi.py and so loads the model once; never per request.
preload_app = False
accesslog = "-"
errorlog = "-"
# The access log never carries the Authorization header or query strings with secrets.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
