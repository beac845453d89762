# Production image: the official Airflow 3.3.2 image (Python 3.12) plus this package.
FROM apache/airflow:3.3.2-python3.12

COPY --chown=airflow:root requirements.txt /opt/collectors/
RUN pip install --no-cache-dir -r /opt/collectors/requirements.txt

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/

ENV PYTHONPATH=/opt/airflow/plugins \
    COLLECTORS_CONFIG=/opt/airflow/include/collectors.yaml \
    COLLECTORS_PROJECT_ROOT=/opt/airflow
