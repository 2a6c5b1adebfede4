# Control-plane image: web (ASGI via daphne), Celery worker and beat share it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN apt-get update \
 && apt-get install -y --no-install-recommends curl libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

# torch is pinned to the CPU build; the index serves the +cpu wheel for 2.13.0.
COPY requirements.txt constraints.txt ./
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt -c constraints.txt

COPY . .
RUN pip install --no-deps -e ./edge_agent \
 && DEBUG=1 python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 vadcloud && chown -R vadcloud /app
USER vadcloud

EXPOSE 8000
CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "vadcloud.asgi:application"]
