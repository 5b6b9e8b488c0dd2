import httpx


def test_healthz_answers_from_a_real_server(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_is_published(http: httpx.Client) -> None:
    spec = http.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "Alliance"
