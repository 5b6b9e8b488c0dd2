import httpx


def test_healthz_answers_from_a_real_server(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_is_published(http: httpx.Client) -> None:
    spec = http.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "Alliance"


def test_the_root_page_says_what_runs_and_shows_no_data(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Alliance is running" in response.text
    assert "/api/v1/docs" in response.text
