import httpx


def test_healthz_answers_from_a_real_server(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_is_published(http: httpx.Client) -> None:
    spec = http.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "Alliance"


def test_the_root_page_sends_a_stranger_to_sign_in_and_shows_no_data(
    http: httpx.Client,
) -> None:
    response = http.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"

    sign_in = http.get("/login")
    assert sign_in.status_code == 200
    assert sign_in.headers["content-type"].startswith("text/html")
    assert 'type="password"' in sign_in.text
    assert "/api/v1/docs" in sign_in.text
    # Nothing of any account reaches a visitor who has not signed in.
    assert "commission" not in sign_in.text.lower()
