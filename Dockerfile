# Production image: the official Airflow 3.3.2 image on Python 3.11, the minor version the
# tests run on (.venv), plus this package, installed with the committed constraints.
# Not an Astro Runtime image: for `astro dev start` see docs/deployment.md ("Astro").
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.txt constraints.txt /opt/collectors/
RUN pip install --no-cache-dir -r /opt/collectors/requirements.txt -c /opt/collectors/constraints.txt

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root airflow_settings.yaml /opt/airflow/airflow_settings.yaml
COPY --chown=airflow:root scripts/apply_airflow_settings.py /opt/collectors/apply_airflow_settings.py

# No COLLECTOR_EMBEDDED here: without a collector_db connection every task fails validate,
# instead of each container writing its own SQLite file.
ENV PYTHONPATH=/opt/airflow/plugins \
    COLLECTORS_CONFIG=/opt/airflow/include/collectors.yaml \
    COLLECTORS_PROJECT_ROOT=/opt/airflow
