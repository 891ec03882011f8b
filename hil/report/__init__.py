"""Run records, the journal, and the renderers (HTML, JSON, JUnit XML, allure)."""
