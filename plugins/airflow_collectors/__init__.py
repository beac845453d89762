"""The Airflow adapter: runs any ``core`` collector as validate -> collect -> sync_pinecone tasks."""
