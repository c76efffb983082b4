"""/v1/info with the ensemble loaded (the default once BERT is promoted): an engine assembled in memory."""

from fastapi.testclient import TestClient

from sqmy.core.config import Settings
from sqmy.models.ensemble import EnsembleEngine
from sqmy.service.main import create_app


def test_info_describes_the_ensemble(home, tfidf_engine):
    app = create_app(Settings(HOME=home, AUTH="off"))
    with TestClient(app) as client:
        state = app.state.sqmy
        state.router.swap("ensemble", EnsembleEngine(members=[tfidf_engine, state.router.engines["tfidf"]]))
        response = client.get("/v1/info")
    assert response.status_code == 200, response.text
    engines = {e["engine"]: e for e in response.json()["engines"]}
    assert set(engines) == {"tfidf", "ensemble"}
    assert "+" in engines["ensemble"]["model_version"] and engines["ensemble"]["created_at"] is None


def test_info_answers_while_the_configured_engine_is_not_loaded_yet(home):
    """SQMY_ENGINE=bert on a site whose BERT is still being built: /v1/info says nobody answers it yet, no 500."""
    app = create_app(Settings(HOME=home, AUTH="off", ENGINE="bert"))
    with TestClient(app) as client:
        response = client.get("/v1/info")
    assert response.status_code == 200, response.text
    assert response.json()["answering"] is None and response.json()["default_engine"] == "bert"
