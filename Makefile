# VADCloud. Two commands set up a fresh machine:
#   make demo   - venv, install, migrate, seed the demo tenant, serve on http://127.0.0.1:8000
#   make test   - the whole test suite (SQLite by default; PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install demo serve test lint bench bench-far bench-tilt edge-dist clean

$(STAMP): requirements.txt constraints.txt edge_agent/pyproject.toml package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e ./edge_agent
	# test-only JavaScript (axe-core for the browser tests' accessibility checks); skipped without npm
	if command -v npm >/dev/null; then npm ci --no-audit --no-fund --silent; fi
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py demo --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/python -m ruff check .

bench: install
	$(BIN)/vad-edge bench --dataset ../shared/data/ucsd_ped2 --out bench-out

# The same footage as another camera would see it: smaller, farther people at half the resolution
bench-far: install
	$(BIN)/vad-edge bench --dataset ../shared/data/ucsd_ped2 --variant far --out bench-out-far

# ... and as a camera looking down a long walkway would: strong perspective, half the resolution
bench-tilt: install
	$(BIN)/vad-edge bench --dataset ../shared/data/ucsd_ped2 --variant tilt --out bench-out-tilt

# The agent wheel served at /edge/dist/ (built on first request otherwise; cached per source fingerprint)
edge-dist: install
	$(BIN)/python manage.py shell -c "from cameras.edge_dist import current_wheel; print(current_wheel().path)"

clean:
	rm -rf $(VENV) node_modules db.sqlite3 staticfiles bench-out bench-out-far .demo build/edge-dist
