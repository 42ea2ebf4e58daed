def test_version_is_public(api, db):
    response = api.get("/api/v1/version/")
    assert response.status_code == 200
    assert response.document["data"]["type"] == "Version"
