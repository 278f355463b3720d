# The valuation service under gunicorn, as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MODEL_ROOT=/app/models INSTANCE_PATH=/app/instance WEB_BIND=0.0.0.0:8000

RUN useradd --create-home --uid 10001 app
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY valuation ./valuation
COPY strategies ./strategies
RUN pip install --no-cache-dir '.[postgres]'
COPY wsgi.py gunicorn.conf.py ./
COPY models/README.md ./models/README.md
RUN mkdir -p /app/instance && chown -R app:app /app/instance /app/models

USER app
EXPOSE 8000
# Mount a registry at /app/models for real models; without one the demo model is trained.
# The migrations are applied at start (/ready stays 503 until the database is at their head).
CMD ["sh", "-c", "valuation demo-model && valuation db upgrade && exec gunicorn -c gunicorn.conf.py wsgi:app"]
