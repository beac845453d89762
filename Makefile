.PHONY: demo test lint bench clean

demo:            ## run the Discord collector DAG through real Airflow on the bundled samples
	./scripts/demo.sh

test:            ## the whole suite: ruff, import-linter, pyright, pytest (needs PostgreSQL)
	./scripts/test.sh

lint:
	./scripts/bootstrap.sh && . scripts/env.sh && ruff check plugins dags tests benchmarks && lint-imports pyproject.toml && pyright plugins dags

bench:
	./scripts/bootstrap.sh && . scripts/env.sh && python benchmarks/bench_discord_ingest.py

clean:
	rm -rf .local
